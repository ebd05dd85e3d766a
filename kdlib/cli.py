"""``python -m kdlib``: fetch data, train a spec, list and re-check records, train a chapter's runs."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path

import torch

from kdlib.paths import use_profile


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
                       ("batch-size", int), ("subset", int), ("val-size", int), ("stop-step", int)):
        run.add_argument(f"--{name}", type=kind)
    run.add_argument("--init-from-teacher", action="store_true",
                     help="start from the teacher's weights where names and shapes match")
    run.add_argument("--augment")
    run.add_argument("--schedule")
    run.add_argument("--optimizer")
    run.add_argument("--device", choices=("cpu", "cuda"))

    commands.add_parser("list", help="list stored run records")

    reproduce = commands.add_parser("reproduce", help="re-train a stored record and compare its metrics")
    reproduce.add_argument("run_id")
    reproduce.add_argument("--device", choices=("cpu", "cuda"))

    verify = commands.add_parser("verify", help="re-run stored records (given, or a random sample) and check them")
    verify.add_argument("run_ids", nargs="*", help="records to check (default: a random sample)")
    verify.add_argument("--sample", type=int, default=3, help="how many records to draw when no id is given")
    verify.add_argument("--seed", type=int, default=0, help="seed of the random draw")
    verify.add_argument("--max-minutes", type=float, help="draw only records that took at most this long")
    verify.add_argument("--tolerance", type=float, default=0.005,
                        help="allowed accuracy difference off the record's environment (default 0.005)")
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

    chapter = commands.add_parser("chapter", help="train (or load) every run of a chapter")
    chapter.add_argument("name")
    chapter.add_argument("--profile", default="cpu")
    chapter.add_argument("--group", help="train only this group of the chapter's runs")
    chapter.add_argument("--device", choices=("cpu", "cuda"))

    ledger = commands.add_parser("claims", help="the claims ledger (every verdict, Holm across the book) from the "
                                                "stored records; trains nothing")
    ledger.add_argument("--profile", default="cpu")
    ledger.add_argument("--csv", help="also write the ledger table to this CSV file")
    return parser


def _spec_from_args(args):
    from kdlib.runs import RunSpec, load_record

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
    for name in ("epochs", "seed", "lr", "weight_decay", "batch_size", "subset", "val_size", "augment", "schedule",
                 "optimizer", "stop_step"):
        if getattr(args, name) is not None:
            fields[name] = getattr(args, name)
    return RunSpec(**fields)


def _outcome(metrics: dict) -> str:
    if metrics.get("diverged"):
        return "diverged"
    if "test_acc" not in metrics:  # a generator run (data-free KD) has a loss, no accuracy
        return f"generator loss {metrics['generator_loss']:.4f}"
    return f"test acc {metrics['test_acc']:.4f}"


def _stop_on_sigterm(signum, frame):
    """SIGTERM unwinds like Ctrl-C: temporary files are removed and the last epoch's resume state is kept."""
    raise SystemExit(128 + signum)


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
    from kdlib.chapters import get_chapter
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
                outcome = _outcome(metrics)
                outcome += "  STALE (older recipe version)" if runs.is_stale(record) else ""
                print(f"{record['id']}  {spec['dataset']:<13} {spec['model']:<20} {spec['method']:<16} "
                      f"seed {spec['seed']}  epochs {spec['epochs']:>3}  {outcome}")
        elif args.command == "reproduce":
            comparison = runs.reproduce(args.run_id, device=args.device)
            print(json.dumps(comparison, indent=1))
            if any(abs(row["difference"]) > 0 for row in comparison.values()):
                print("the re-run differs from the record (other hardware, threads or library versions?)",
                      file=sys.stderr)
                return 1
        elif args.command == "verify":
            if args.sample < 1 or args.tolerance < 0:
                raise ValueError(f"--sample must be >= 1 and --tolerance >= 0, got {args.sample} and "
                                 f"{args.tolerance}")
            rows = runs.verify(args.run_ids, args.sample, args.seed, args.max_minutes, args.tolerance, args.device)
            for row in rows:
                largest = row["largest difference"]
                difference = "" if largest is None else f"  largest difference {largest:.6f}"
                print(f"{row['id']}  {row['model']:<18} {row['method']:<16} {row['outcome']:<10}{difference}  "
                      f"({row['detail']})", flush=True)
            failed = [row["id"] for row in rows if row["outcome"] != "reproduced"]
            print(f"{len(rows) - len(failed)} of {len(rows)} records reproduced"
                  + (f"; not: {', '.join(failed)}" if failed else ""))
            return 1 if failed else 0
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
            result = benchmark.run_benchmark(args.repeats, args.resnet_images, args.subset)
            benchmark.print_report(result)
            if args.json:
                benchmark.write_json(result, args.json)
        elif args.command == "chapter":
            use_profile(args.profile)
            chapter_module = get_chapter(args.name)
            missing = []
            for name in chapter_module.datasets(args.profile):  # all of them, before an hour of training
                try:
                    data.fetch(name)
                except data.DataError as error:
                    missing.append(str(error))
            if missing:
                raise data.DataError(f"chapter {args.name!r} at profile {args.profile!r} needs data that is not "
                                     f"here; nothing was trained:\n" + "\n".join(missing))
            groups = chapter_module.runs(args.profile)
            if args.group and args.group not in groups:
                raise ValueError(f"unknown group {args.group!r}; groups: {', '.join(groups)}")
            for group, specs in groups.items():
                if args.group in (None, group):
                    for spec in specs:  # a sweep cell that diverges is a result, stored as such
                        record = runs.get_or_train(spec, device=args.device, keep_divergence=True)
                        outcome = _outcome(record["metrics"])
                        print(f"{group} {record['id']} {spec.model} {spec.method} seed {spec.seed}: {outcome}",
                              flush=True)
        elif args.command == "claims":
            from kdlib import chapters, claims
            if args.profile not in chapters.PROFILES:
                raise ValueError(f"unknown profile {args.profile!r}; choose one of: {', '.join(chapters.PROFILES)}")
            use_profile(args.profile)
            if args.csv and not Path(args.csv).resolve().parent.is_dir():
                raise ValueError(f"cannot write --csv {args.csv}: its folder does not exist")
            ledger = chapters.ledger(args.profile, train_missing=False)
            table = claims.table(ledger)
            for _, rows in table.groupby(["claim", "dataset", "statement"], sort=False):
                first = rows.iloc[0]
                print(f"{first['claim']:<4} {first['verdict']:<16} {first['dataset']}: {first['statement']}")
                print(f"     {first['reason']}")
                for _, row in rows[rows["test"] != "–"].iterrows():
                    print(f"     - {row['comparison']}: {row['effect [95 % CI]']} ({row['test']}), p {row['p']}, "
                          f"Holm {row['p (Holm)']}, MDE {row['MDE']}")
            print(", ".join(f"{n} {verdict}" for verdict, n in claims.counts(ledger).items()))
            if args.csv:
                table.to_csv(args.csv, index=False)
    except (ValueError, FileNotFoundError, data.DataError, FloatingPointError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0
