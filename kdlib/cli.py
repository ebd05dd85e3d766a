"""``python -m kdlib``: fetch data, train a spec, list and re-check records, train a chapter's runs, execute a page,
print the book's claims."""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
from pathlib import Path

import torch

from kdlib.paths import project_root, use_profile


def _param(text: str) -> tuple[str, float | str]:
    """NAME=NUMBER, or NAME=WORD for a choice (hint=kd); the method's parameters check the value."""
    name, sep, value = text.partition("=")
    if not sep or not name or not value:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE (e.g. temperature=4 or hint=kd), got {text!r}")
    try:
        return name, float(value)
    except ValueError:
        return name, value


def _parser() -> argparse.ArgumentParser:
    from kdlib.executors import EXECUTORS

    parser = argparse.ArgumentParser(prog="python -m kdlib", description=__doc__)
    parser.add_argument("--data-root", help="dataset folder (default: $KDLIB_DATA or ./data)")
    parser.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's choice)")
    commands = parser.add_subparsers(dest="command", required=True)

    fetch = commands.add_parser("fetch", help="download and verify datasets")
    fetch.add_argument("datasets", nargs="+")

    run = commands.add_parser("run", help="train one spec (or load its record) and print its metrics")
    run.add_argument("--dataset", required=True)
    run.add_argument("--model", required=True)
    run.add_argument("--method", default="ce")
    run.add_argument("--param", type=_param, action="append", default=[], metavar="NAME=VALUE")
    run.add_argument("--teacher", metavar="RUN_ID", help="id of a stored teacher record")
    run.add_argument("--extra-teacher", metavar="RUN_ID", action="append", default=[],
                     help="a further teacher (repeat): each row learns from one teacher drawn at random")
    run.add_argument("--generator", metavar="RUN_ID",
                     help="id of a stored generator run (method rdskd_generator) for an rdskd student")
    for name, kind in (("epochs", int), ("seed", int), ("lr", float), ("weight-decay", float),
                       ("batch-size", int), ("subset", int), ("val-size", int), ("stop-step", int),
                       ("train-size", int), ("eval-every", int)):
        run.add_argument(f"--{name}", type=kind)
    run.add_argument("--init-from-teacher", action="store_true",
                     help="start from the teacher's weights where names and shapes match")
    run.add_argument("--omit-class", type=int, action="append", default=[], metavar="CLASS",
                     help="leave this class out of the training set (repeat); the record adds its bias sweep")
    run.add_argument("--augment")
    run.add_argument("--schedule")
    run.add_argument("--optimizer")
    run.add_argument("--device", choices=("cpu", "cuda"))

    commands.add_parser("list", help="list stored run records")

    reproduce = commands.add_parser("reproduce", help="re-train a stored record and compare its metrics")
    reproduce.add_argument("run_id")
    reproduce.add_argument("--device", choices=("cpu", "cuda"))

    verify = commands.add_parser(
        "verify", help="re-run stored records (given, or a random sample) and check them: bit for bit on the "
                       "recording processor and build, elsewhere within the 99 %% band of the setting's own seeds")
    verify.add_argument("run_ids", nargs="*", help="records to check (default: a random sample)")
    verify.add_argument("--sample", type=int, default=3, help="how many records to draw when no id is given")
    verify.add_argument("--seed", type=int, default=0, help="seed of the random draw")
    verify.add_argument("--max-minutes", type=float,
                        help="bound on the whole command, the teachers a re-run must re-train included (at the "
                             "minutes they took when recorded): only records whose chain fits are drawn")
    verify.add_argument("--default-bound", type=float,
                        help="allowed accuracy difference off the record's processor where the setting has fewer "
                             "than 3 seeds (a fraction; default 0.02)")
    verify.add_argument("--device", choices=("cpu", "cuda"))

    bench = commands.add_parser("bench", aliases=["benchmark"],
                                help="time kdlib's trainer against plain PyTorch pipelines, side by side")
    bench.add_argument("--repeats", type=int, default=3, help="pairs of timings per measure (median reported)")
    bench.add_argument("--resnet-images", type=int, default=10_000,
                       help="training images for the ResNet-20 measure (default 10,000)")
    bench.add_argument("--subset", type=int, help="limit every measure to this many images (a quick check)")
    bench.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    bench.add_argument("--profile", action="store_true",
                       help="instead of the measures, profile one kdlib LeNet-5 epoch (ops by self CPU time)")
    bench.add_argument("--executors", action="store_true",
                       help="instead, time a stage of 8 single-thread runs: 1 worker, 2 local workers, 2 on Ray")

    chapter = commands.add_parser("chapter", help="train (or load) every run of a chapter")
    chapter.add_argument("name")
    pilot = commands.add_parser("pilot", help="train a chapter's pilot for a new testbed (seeds 0-1) and read its "
                                              "gates on validation; exits 3 when a gate fails")
    pilot.add_argument("name", help="a chapter with a pilot (noisy_teachers, rocket_launching, self_distillation, "
                                    "teacher_free)")
    pilot.add_argument("--no-train", action="store_true", help="train nothing; read the gates from the records")
    page = commands.add_parser("page", help="train a page's missing runs, execute it with papermill into its own "
                                            "folder and build a book around it")
    page.add_argument("name", help="a chapter (noisy_teachers, ...), speed or results")
    for command in (chapter, page):
        command.add_argument("--profile", default="cpu")
        command.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                             help="a chapter parameter, e.g. -p seeds '[0,1,2,3,4]' (the page lists them)")
    for command in (chapter, page, pilot):
        command.add_argument("--device", choices=("cpu", "cuda"))
        command.add_argument("--workers", type=int, default=1, help="runs trained at once (default 1)")
        command.add_argument("--executor", default="local", choices=EXECUTORS)
        command.add_argument("--address", help="ray: the address of an existing cluster (default: a local one)")
        command.add_argument("--gpus-per-run", type=float,
                             help="ray/slurm: GPUs per run (a fraction packs small runs on one GPU)")
    page.add_argument("--out", help="the folder of the executed page and its book (default _pages/<page>)")
    page.add_argument("--dry-run", action="store_true",
                      help="list the runs the page would train and the minutes each would take (estimated from "
                           "stored records of similar specs; GPU-hours for --profile paper), and train nothing")
    page.add_argument("--published", action="store_true",
                      help="execute into book/, over the published page (what `make book` does); builds nothing")
    page.add_argument("--no-train", action="store_true", help="train nothing; the page stops at a missing record")
    page.add_argument("--no-build", action="store_true", help="execute the page, build no book")

    cost = commands.add_parser("cost", help="what re-training every record the book reads would cost, from the "
                                            "records' own wall times; trains nothing")
    cost.add_argument("--profile", default="cpu")
    cost.add_argument("--workers", type=int, default=2, help="training processes at once (default 2)")
    ledger = commands.add_parser("claims", help="the claims ledger (every verdict, Holm within each paper's claims) "
                                                "from the stored records; trains nothing")
    ledger.add_argument("--profile", default="cpu")
    ledger.add_argument("--csv", help="also write the ledger table (or, with --plan, the plan) to this CSV file")
    ledger.add_argument("--plan", action="store_true",
                        help="instead, per claim-setting: the seeds its primary comparison needs for 80 %% power at "
                             "its SESOI, from the spread of its records (the pilot), and the CPU hours that implies")
    return parser


def _spec_from_args(args):
    from kdlib.runs import load_record
    from kdlib.spec import RunSpec

    def stored_spec(run_id: str) -> RunSpec:
        stored = load_record(run_id)
        if stored is None:
            raise ValueError(f"no stored teacher record {run_id!r}; `python -m kdlib list` shows the ids")
        return RunSpec.from_dict(stored["spec"])

    fields = {"dataset": args.dataset, "model": args.model, "method": args.method,
              "method_params": tuple(args.param)}
    if args.teacher:
        fields["teacher"] = stored_spec(args.teacher)
    if args.generator:
        fields["generator"] = stored_spec(args.generator)
    if args.extra_teacher:
        fields["extra_teachers"] = tuple(stored_spec(run_id) for run_id in args.extra_teacher)
    if args.init_from_teacher:
        fields["init_from_teacher"] = True
    if args.omit_class:
        fields["omit_classes"] = tuple(args.omit_class)
    for name in ("epochs", "seed", "lr", "weight_decay", "batch_size", "subset", "val_size", "augment", "schedule",
                 "optimizer", "stop_step", "train_size", "eval_every"):
        if getattr(args, name) is not None:
            fields[name] = getattr(args, name)
    return RunSpec(**fields)


def _stop_on_sigterm(signum, frame):
    """SIGTERM unwinds like Ctrl-C: temporary files are removed and the last epoch's resume state is kept."""
    raise SystemExit(128 + signum)


def _executor_options(args) -> dict:
    """What the executor asked for takes besides workers and threads; a flag another executor takes is refused."""
    if args.address is not None and args.executor != "ray":
        raise ValueError("--address names a Ray cluster; it needs --executor ray")
    if args.gpus_per_run is not None and args.executor == "local":
        raise ValueError("--gpus-per-run is for --executor ray or slurm; local workers take GPU i mod G (--workers "
                         "G×K packs K runs per GPU)")
    return {key: value for key, value in (("address", args.address), ("gpus_per_run", args.gpus_per_run))
            if value is not None}


def _pilot(args) -> int:
    """A chapter's pilot: its testbeds in order (the first setting, then each fallback), each trained and read on
    validation against gates fixed in the chapter before its runs, until one passes; exits 3 when none does."""
    from kdlib import chapters
    chapter = chapters.get_chapter(args.name)
    if not hasattr(chapter, "pilot_stages"):
        raise ValueError(f"chapter {args.name!r} has no pilot; chapters with one: " + ", ".join(
            name for name in chapters.CHAPTERS if hasattr(chapters.get_chapter(name), "pilot_stages")))
    use_profile("cpu")
    for testbed in chapter.pilot_testbeds():
        print(f"--- {testbed.name}: {testbed.why}", flush=True)
        if not args.no_train and (status := _train(chapter.pilot_stages(testbed), args)):
            return status
        found = chapter.pilot_results(testbed=testbed)
        outcome = chapter.gate_outcome(found)
        print(chapter.pilot_summary(found).to_string(index=False))
        for name, gate in outcome["gates"].items():
            print(f"gate '{name}' passed, {gate['difference']:+.2f} points" if gate["passed"] else gate["message"])
        if outcome["go"]:
            print(f"go: {testbed.name} is the testbed; its main runs may start")
            return 0
        print(f"no go: {testbed.name} fails a gate")
    print("no go: every testbed and fallback failed a gate; the chapter's claims are untestable in these settings")
    return 3


def _train(stages, args) -> int:
    """Every missing run of ``stages``, by the executor asked for; lists the failures and returns 1 when any run
    failed (re-running trains only what is still missing)."""
    from kdlib.executors import run_stages
    failures = run_stages(stages, args.executor, args.workers, args.threads, args.device,
                          report=lambda line: print(line, flush=True), **_executor_options(args))
    if failures:
        print(f"{len(failures)} run(s) failed; run the command again to retry them:", file=sys.stderr)
        for failure in failures:
            print(f"  {failure.spec_id} {failure.what}: {failure.error}", file=sys.stderr)
        return 1
    return 0


def _chapter_or_page(args) -> int:
    """``chapter``: train a chapter's runs. ``page``: that, then execute the page into its own folder and build."""
    from kdlib import book, chapters, pages, profiles
    from kdlib.pages import parse_value
    changes = {}
    for key, text in args.parameter:
        if key in profiles.BASE_PARAMETERS:
            flags = "--profile, --device or --no-train" if args.command == "page" else "--profile or --device"
            raise ValueError(f"{key} is not a -p parameter here; use {flags}")
        if key in changes:
            raise ValueError(f"parameter {key} is given twice")
        changes[key] = parse_value(text)
    _executor_options(args)
    if args.command == "chapter":
        chapter_module = chapters.get_chapter(args.name)
        profile = profiles.chapter_profile(chapter_module, args.profile, changes)
        use_profile(profile.name)
        return _train(chapter_module.stages(profile, args.device), args)
    stem = pages.page_stem(args.name)
    name = next(key for key, value in pages.PAGES.items() if value == stem)
    if args.dry_run:
        from kdlib import plan
        if args.published or args.out or args.no_train:
            raise ValueError("--dry-run trains and executes nothing; it takes no --published, --out or --no-train")
        use_profile(args.profile)
        print(plan.describe(plan.missing_runs(name, args.profile, changes, args.device)))
        return 0
    if args.published and (args.out or changes):
        raise ValueError("--published executes a published profile into book/; it takes no --out and no -p "
                         "(a page with other parameters goes to its own folder)")
    chapter_module = chapters.get_chapter(name) if name in chapters.CHAPTERS else None
    train = not args.no_train
    if chapter_module is None:
        if changes:
            raise ValueError(f"page {name!r} takes no parameters besides --profile")
        if args.profile not in profiles.PROFILES:
            raise ValueError(f"unknown profile {args.profile!r}; choose one of: {', '.join(profiles.PROFILES)}")
        profile = args.profile
    else:
        profile = profiles.chapter_profile(chapter_module, args.profile, changes, train)
    use_profile(profiles.profile_name(profile))
    if chapter_module is not None and train:  # the page's runs and the rest of the ledger it computes
        status = _train(book.page_stages(name, profile, args.device), args)
        if status:
            return status
    parameters = {"profile": profiles.profile_name(profile)}
    if chapter_module is not None:
        parameters.update(train_missing=train, device=args.device,
                          **{key: list(value) if isinstance(value, tuple) else value for key, value in changes.items()})
    elif name == "speed":
        parameters["train_missing"] = train
    if args.published:
        output = pages.execute(name, parameters, project_root() / "book")
        print(f"executed {output}")
        return 0
    folder = Path(args.out) if args.out else project_root() / "_pages" / pages.page_stem(name)
    output = pages.execute(name, parameters, folder / "book")
    print(f"executed {output}")
    if not args.no_build:
        print(f"the book is in {pages.build_book(folder, [pages.page_stem(name)])}")
    return 0


def _verify(args) -> int:
    """Print the time plan, then each record's verdict as it finishes; exit 1 if any differs."""
    from kdlib import verify
    if args.sample < 1 or (args.default_bound is not None and not args.default_bound >= 0) \
            or (args.max_minutes is not None and not args.max_minutes > 0):
        raise ValueError(f"--sample must be >= 1, --default-bound >= 0 and --max-minutes > 0, got {args.sample}, "
                         f"{args.default_bound} and {args.max_minutes}")
    entries = verify.plan(args.run_ids, args.sample, args.seed, args.max_minutes)
    if not entries:
        raise ValueError(f"no record fits in --max-minutes {args.max_minutes:g} with the teachers it needs; "
                         f"raise it (`python -m kdlib list` shows the records)")
    print(verify.describe_plan(entries, args.max_minutes), flush=True)
    rows = []
    for row in verify.verify(entries, args.max_minutes, args.default_bound, args.device):
        rows.append(row)
        print(verify.format_row(row), flush=True)
    failed = [row["id"] for row in rows if row["outcome"] in ("differs", "stale")]
    skipped = [row["id"] for row in rows if row["outcome"] == "not run"]
    print(f"{sum(row['outcome'] == 'reproduced' for row in rows)} of {len(rows)} records reproduced"
          + (f"; not: {', '.join(failed)}" if failed else "")
          + (f"; not run (time): {', '.join(skipped)}" if skipped else ""))
    return 1 if failed else 0


def _ledger_text(ledger, table) -> str:
    """Per claim-setting: its verdict and reason, then its comparisons, the primary first with its SESOI, the
    Holm-adjusted p, the level it was decided at, the MDE there and the power at the SESOI."""
    from kdlib import claims
    planned = {(row["claim"], row["dataset"], row["model"], row["primary"]): row
               for _, row in claims.seed_plan(ledger).iterrows()}
    lines = []
    for _, rows in table.groupby(["claim", "dataset", "model", "statement"], sort=False):
        first = rows.iloc[0]
        lines += [f"{first['claim']:<4} {first['verdict']:<16} {first['dataset']}: {first['statement']}",
                  f"     {first['reason']}"]
        for _, row in rows[rows["test"] != "–"].iterrows():
            if row["role"] == "primary":
                plan = planned.get((row["claim"], row["dataset"], row["model"], row["comparison"].split(" (margin")[0]))
                seeds = ("" if plan is None or plan["seeds needed"] is None else
                         f"; planned power {plan['power now']:.0%} with {plan['seeds now']} seeds at level "
                         f"{plan['level']:.2g}, {int(plan['seeds needed'])} seeds for {plan['power planned']:.0%}"
                         + (" (cap)" if plan["cap binds"] else ""))
                lines.append(f"     - primary: {row['comparison']}: {row['effect [95 % CI]']} ({row['test']}), "
                             f"p {row['p']}, Holm {row['p (Holm)']} at level {row['level']}, MDE {row['MDE']}, "
                             f"SESOI {row['SESOI']}, achieved power {row['power at SESOI']}{seeds}")
            else:
                lines.append(f"     - {row['role']}: {row['comparison']}: {row['effect [95 % CI]']} ({row['test']}), "
                             f"p {row['p']}, MDE at 5 % {row['MDE']}")
    lines.append(", ".join(f"{n} {verdict}" for verdict, n in claims.counts(ledger).items()))
    return "\n".join(lines)


def _plan_text(plan) -> str:
    """The plan in lines: per claim-setting, the seeds its primary comparison needs and what they cost."""
    lines = []
    for _, row in plan.iterrows():
        head = f"{row['claim']:<4} {row['dataset']}: {row['primary']}"
        if row["seeds needed"] is None or row["seeds needed"] != row["seeds needed"]:
            why = "no SESOI declared" if row["SESOI"] is None else "no spread in its records to plan from"
            lines.append(f"{head}\n     not planned: {why}")
            continue
        cost = ("" if row["CPU hours to add"] != row["CPU hours to add"]
                else f"; {row['CPU hours to add']:.2f} CPU hours for the seeds to add")
        capped = ""
        if row["cap binds"]:
            free = row["seeds without the cap"]
            capped = (" (the cap binds: 80 % would need " + (f"{int(free):,} seeds" if free else "more than a million")
                      + ("" if row["CPU hours without the cap"] != row["CPU hours without the cap"]
                         else f", {row['CPU hours without the cap']:,.0f} CPU hours") + ")")
        lines.append(f"{head}\n     SESOI {row['SESOI']:.3g} {row['unit']} ({row['SESOI reason']}); pilot sd "
                     f"{row['pilot sd']:.3g} from {row['seeds now']} seeds; level {row['level']:.2g} (family of "
                     f"{row['family']}); power now {row['power now']:.0%}; {int(row['seeds needed'])} seeds for "
                     f"{row['power planned']:.0%}{capped}{cost}")
    return "\n".join(lines)


def _use_known_profile(profile: str) -> None:
    """Refuse an unknown profile, naming the known ones; else make it the running one (``use_profile``)."""
    from kdlib import profiles
    if profile not in profiles.PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose one of: {', '.join(profiles.PROFILES)}")
    use_profile(profile)


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started in the background (SIGINT ignored)
    args = _parser().parse_args(argv)
    if args.data_root:
        import os
        os.environ["KDLIB_DATA"] = args.data_root
    if args.threads:
        torch.set_num_threads(args.threads)
    from kdlib import data, runs
    try:
        if args.command == "fetch":
            for name in args.datasets:
                print(f"{name}: {data.fetch(name)}")
        elif args.command == "run":
            record = runs.get_or_train(_spec_from_args(args), device=args.device)
            print(json.dumps({"id": record["id"], **record["metrics"]}, indent=1))
        elif args.command == "list":
            for record in runs.all_records():
                spec, metrics = record["spec"], record["metrics"]
                outcome = runs.outcome(metrics)
                outcome += "  STALE (older recipe version)" if runs.is_stale(record) else ""
                print(f"{record['id']}  {spec['dataset']:<13} {spec['model']:<20} {spec['method']:<16} "
                      f"seed {spec['seed']}  epochs {spec['epochs']:>3}  {outcome}")
        elif args.command == "reproduce":
            from kdlib import verify
            comparison = verify.reproduce(args.run_id, device=args.device)
            print(json.dumps(comparison, indent=1))
            if any(abs(row["difference"]) > 0 for row in comparison.values()):
                print("the re-run differs from the record (other hardware, threads or library versions?); "
                      "`python -m kdlib verify ID` judges it against the spread of the record's setting",
                      file=sys.stderr)
                return 1
        elif args.command == "verify":
            return _verify(args)
        elif args.command in ("bench", "benchmark"):
            from kdlib import benchmark
            if args.repeats < 1 or args.resnet_images < 128:
                raise ValueError(f"--repeats must be >= 1 and --resnet-images >= 128 (one batch), got "
                                 f"{args.repeats} and {args.resnet_images}")
            if args.json and not Path(args.json).resolve().parent.is_dir():
                raise ValueError(f"cannot write --json {args.json}: its folder does not exist")
            if args.profile:
                print(benchmark.profile_lenet_epoch())
                return 0
            if args.executors:
                result = benchmark.executor_benchmark()
                print(json.dumps(result, indent=1))
                if args.json:
                    benchmark.write_json(result, args.json)
                return 0
            result = benchmark.run_benchmark(args.repeats, args.resnet_images, args.subset)
            benchmark.print_report(result)
            if args.json:
                benchmark.write_json(result, args.json)
        elif args.command in ("chapter", "page"):
            return _chapter_or_page(args)
        elif args.command == "pilot":
            return _pilot(args)
        elif args.command == "cost":
            from kdlib import chapters, report
            _use_known_profile(args.profile)
            cost = report.rebuild_cost(chapters.records_read(args.profile), args.workers)
            print(f"{cost['runs']} runs, {cost['cpu_hours']:.1f} CPU-hours: at least {cost['wall_hours']:.1f} hours "
                  f"on {args.workers} workers; {100 * cost['outside_steps_share']:.1f} % of the time outside the "
                  f"optimiser's steps (evaluation, data, logging; over the {cost['timed_runs']} runs that time "
                  "their steps)")
        elif args.command == "claims":
            from kdlib import book, claims
            _use_known_profile(args.profile)
            if args.csv and not Path(args.csv).resolve().parent.is_dir():
                raise ValueError(f"cannot write --csv {args.csv}: its folder does not exist")
            ledger = book.ledger(args.profile, train_missing=False)
            table = claims.seed_plan(ledger) if args.plan else claims.table(ledger)
            print(_plan_text(table) if args.plan else _ledger_text(ledger, table))
            if args.csv:
                table.to_csv(args.csv, index=False)
    except (ValueError, FileNotFoundError, data.DataError, FloatingPointError, RuntimeError,
            subprocess.CalledProcessError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0
