"""Benchmark `factdeck build` on large generated decks against a floor (issue 6).

    python benchmarks/bench_build.py --notes 100000
    python benchmarks/bench_build.py --notes 1000,10000,100000 --runs 5 --out benchmarks/RESULTS.md

For each N it

1. generates a deterministic deck of N notes (about 300 bytes of YAML per note: half basic
   notes with front/back, half cloze notes with two gaps; two tags and one source each; an
   `extra` on some; a small share of fields with Markdown emphasis) into the work folder;
2. runs, interleaved round by round so background load hits every pipeline alike, each
   pipeline as its own subprocess and takes the median over --runs of wall time, CPU time
   and peak RSS (from ``os.wait4``: the kernel's rusage of exactly that child, workers it
   reaped included) and of the summed memory of its process tree (sampled from /proc, for
   builds that fork workers):
     startup       factdeck --version (interpreter start + imports; context for small N)
     floor         benchmarks/floor.py: libyaml events -> rows -> SQLite executemany -> deflate zip
     build         factdeck build DECK -o OUT.apkg, with the deck's .lock deleted first
     rebuild       factdeck build again with the lock from the previous build in place
     check         factdeck check DECK
     naive-*       yaml.safe_load / CSafeLoader + genanki (context only; N <= --naive-max)
3. checks every package opens and holds N notes and the expected number of cards, and that
   build and rebuild wrote the same bytes every time;
4. writes RESULTS.md (machine, one table per N, PASS/FAIL of the targets) and prints it.

Targets for `build` (fresh lock): median wall time <= 1.5x floor, peak memory < 400 MB
(the larger of the biggest process's RSS and the process tree's sampled total), package
size <= 1.2x floor's.

Only the standard library, PyYAML and genanki are needed, all factdeck dependencies; run it
with the interpreter factdeck is installed in.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import platform
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_WORK = HERE / "work"
DEFAULT_OUT = HERE / "RESULTS.md"
SOURCE_DATE_EPOCH = "1767225600"  # 2026-01-01: every build stamps the same times

TARGET_TIME = 1.5  # build wall time / floor wall time
TARGET_RSS_MB = 400.0  # build peak RSS
TARGET_SIZE = 1.2  # build package size / floor package size

# --------------------------------------------------------------------------------------------
# Deck generation
# --------------------------------------------------------------------------------------------

DRUGS = [
    "amoxicillin",
    "metformin",
    "lisinopril",
    "atorvastatin",
    "warfarin",
    "apixaban",
    "furosemide",
    "spironolactone",
    "digoxin",
    "amiodarone",
    "levothyroxine",
    "prednisolone",
    "methotrexate",
    "omeprazole",
    "salbutamol",
    "ipratropium",
    "gentamicin",
    "vancomycin",
    "ceftriaxone",
    "doxycycline",
    "clopidogrel",
    "heparin",
    "insulin glargine",
    "empagliflozin",
    "bisoprolol",
    "verapamil",
    "nifedipine",
    "haloperidol",
    "lithium",
    "sertraline",
    "carbamazepine",
    "valproate",
    "phenytoin",
    "allopurinol",
    "colchicine",
    "ondansetron",
    "morphine",
    "naloxone",
    "adrenaline",
]
TARGETS = [
    "cyclo-oxygenase",
    "HMG-CoA reductase",
    "vitamin K epoxide reductase",
    "factor Xa",
    "the Na-K-2Cl cotransporter",
    "the mineralocorticoid receptor",
    "Na/K-ATPase",
    "the 30S ribosomal subunit",
    "cell wall synthesis",
    "angiotensin-converting enzyme",
    "the H+/K+ ATPase",
    "beta-1 adrenoceptors",
    "L-type calcium channels",
    "D2 receptors",
    "serotonin reuptake",
    "voltage-gated sodium channels",
    "xanthine oxidase",
    "microtubule polymerisation",
    "5-HT3 receptors",
    "mu-opioid receptors",
    "SGLT2",
]
CONDITIONS = [
    "atrial fibrillation",
    "heart failure with reduced ejection fraction",
    "type 2 diabetes",
    "community-acquired pneumonia",
    "acute gout",
    "hypothyroidism",
    "asthma",
    "COPD",
    "bipolar disorder",
    "focal epilepsy",
    "pulmonary embolism",
    "infective endocarditis",
    "chronic kidney disease",
    "nephrotic syndrome",
    "rheumatoid arthritis",
    "sepsis",
    "acute coronary syndrome",
    "peptic ulcer disease",
    "hyperkalaemia",
    "anaphylaxis",
    "Addison disease",
    "Cushing syndrome",
    "primary hyperaldosteronism",
    "meningitis",
]
EFFECTS = [
    "lowers LDL cholesterol",
    "reduces preload",
    "prolongs the prothrombin time",
    "increases urinary sodium loss",
    "slows AV nodal conduction",
    "raises serum potassium",
    "causes dose-dependent QT prolongation",
    "suppresses gastric acid secretion",
    "improves glycaemic control",
    "reduces mortality",
    "causes ototoxicity at high troughs",
    "needs monitoring of serum levels",
    "lowers the seizure threshold",
    "causes gingival hyperplasia",
    "induces hepatic enzymes",
    "inhibits its own metabolism",
    "has a narrow therapeutic index",
]
STRUCTURES = [
    "the left anterior descending artery",
    "the recurrent laryngeal nerve",
    "the sinoatrial node",
    "the proximal convoluted tubule",
    "the loop of Henle",
    "the zona glomerulosa",
    "the anterior pituitary",
    "the hippocampus",
    "the internal capsule",
    "the median nerve",
    "the common peroneal nerve",
    "the portal vein",
    "the sigmoid colon",
    "the thyroid gland",
]
FINDINGS = [
    "a raised JVP",
    "bibasal crackles",
    "an irregularly irregular pulse",
    "a pansystolic murmur",
    "peaked T waves",
    "a positive Kernig sign",
    "Janeway lesions",
    "a malar rash",
    "hyperpigmentation of the palmar creases",
    "proximal myopathy",
    "foot drop",
    "a hoarse voice",
    "central cyanosis",
    "pitting oedema to the knees",
    "an absent knee jerk",
]
TESTS = [
    "an ECG",
    "a chest radiograph",
    "serum troponin",
    "a CT pulmonary angiogram",
    "lumbar puncture",
    "HbA1c",
    "TSH and free T4",
    "a short Synacthen test",
    "urinary albumin-creatinine ratio",
    "blood cultures",
    "echocardiography",
    "spirometry with reversibility",
    "serum urate",
]
DURATIONS = ["48 hours", "5 days", "two weeks", "six weeks", "three months", "one year"]
DOSES = [
    "500 mg three times daily",
    "10 mg once daily",
    "1 g intravenously",
    "40 mg at night",
    "2.5 mg twice daily",
    "0.5 mg/kg",
    "a weight-based loading dose",
]

SENTENCES = [
    "{drug} inhibits {target}, which {effect} in patients with {condition}",
    "In {condition}, the usual first-line treatment is {drug} at {dose}, reviewed after {duration}",
    "Damage to {structure} classically presents with {finding}, confirmed by {test}",
    "{finding} in a patient with {condition} should prompt {test} within {duration}",
    "{drug} acts on {target} and {effect}, so it is avoided in {condition}",
    "{structure} is examined with {test} when {finding} is found alongside {condition}",
    "Patients taking {drug} for {condition} need {test} after {duration} because it {effect}",
]
QUESTIONS = [
    "What is the mechanism of action of {drug}, and why is it used in {condition}?",
    "Which investigation confirms {condition} in a patient presenting with {finding}?",
    "Which structure is injured when a patient develops {finding} after surgery near {structure}?",
    "Why does {drug} need {test} after {duration} in a patient with {condition}?",
    "What is the first-line treatment of {condition}, and at which dose is {drug} started?",
    "Which adverse effect of {drug} matters most in {condition}, and how is it monitored?",
]
EXTRAS = [
    "Mnemonic: think of {target} whenever {drug} appears in a question about {condition}.",
    "Guideline update: review {drug} after {duration}; stop it if {finding} develops.",
    "Exam tip: {finding} with {condition} is a classic vignette; {test} is the key step.",
    "See also {structure} and its relation to {condition}.",
]
SLOTS = {
    "drug": DRUGS,
    "target": TARGETS,
    "condition": CONDITIONS,
    "effect": EFFECTS,
    "structure": STRUCTURES,
    "finding": FINDINGS,
    "test": TESTS,
    "duration": DURATIONS,
    "dose": DOSES,
}
TAGS = [
    "cardiology",
    "respiratory",
    "renal",
    "endocrine",
    "neurology",
    "psychiatry",
    "pharmacology",
    "microbiology",
    "anatomy",
    "physiology",
    "haematology",
    "rheumatology",
    "gastro",
    "emergency",
    "infectious-disease",
    "clinical-skills",
    "high-yield",
    "exam-2026",
    "year-3",
    "year-4",
    "prescribing",
    "investigations",
    "mechanisms",
    "adverse-effects",
    "presentations",
    "management",
]
SOURCES = [
    ("bnf", "British National Formulary", "https://bnf.nice.org.uk/"),
    ("nice-af", "NICE NG196: Atrial fibrillation", "https://www.nice.org.uk/guidance/ng196"),
    ("nice-hf", "NICE NG106: Chronic heart failure", "https://www.nice.org.uk/guidance/ng106"),
    ("oxford-hb", "Oxford Handbook of Clinical Medicine, 11th ed.", None),
    ("gray", "Gray's Anatomy for Students", "https://example.org/grays"),
    ("rang-dale", "Rang and Dale's Pharmacology, 10th ed.", "https://example.org/rang-dale"),
    ("uptodate", "UpToDate clinical topic reviews", "https://www.uptodate.com/"),
    ("lecture-12", "Year 3 lecture 12: renal physiology", "https://example.org/lectures/12"),
]
FIELD_LEN = (100, 150)  # characters of a generated front/back/text
EXTRA_SHARE = 0.3  # notes with an `extra`


def _q(text: str) -> str:
    """A YAML double-quoted scalar."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class _Text:
    """Seeded medical-ish sentences of a target length, with optional cloze gaps and emphasis."""

    def __init__(self, rng: random.Random, markup: float):
        self.rng = rng
        self.markup = markup

    def sentence(self, template: str, gaps: int = 0, emphasis: bool = False) -> str:
        rng = self.rng
        names = [part.split("}", 1)[0] for part in template.split("{")[1:]]
        picked = {name: rng.choice(SLOTS[name]) for name in names}
        if template.startswith("{"):  # a sentence starts with a capital, even inside a gap
            picked[names[0]] = picked[names[0]][0].upper() + picked[names[0]][1:]
        marked = dict(picked)
        order = rng.sample(range(len(names)), len(names))
        for number, i in enumerate(order[:gaps], 1):
            value = picked[names[i]]
            hint = f"::{names[i]}" if rng.random() < 0.1 else ""
            marked[names[i]] = f"{{{{c{number}::{value}{hint}}}}}"
        if emphasis and len(order) > gaps:
            name = names[order[gaps]]
            star = rng.choice(("**", "*"))
            marked[name] = f"{star}{picked[name]}{star}"
        return template.format(**marked)

    def field(self, templates: list[str], gaps: int = 0, end: str = ".") -> str:
        """Sentences until the visible text is FIELD_LEN long; the first one carries the gaps."""
        lo, hi = FIELD_LEN
        want = self.rng.randint(lo, hi)
        emphasis = self.rng.random() < self.markup
        best = ""
        for _ in range(8):  # a few tries to land in range; keep the closest
            text = self.sentence(self.rng.choice(templates), gaps, emphasis) + end
            while len(text) < want - 40:
                text += " " + self.sentence(self.rng.choice(SENTENCES)) + "."
            if abs(len(text) - want) < abs(len(best) - want):
                best = text
            if lo <= len(text) <= hi + 30:
                break
        return best


@dataclass
class DeckInfo:
    path: Path
    notes: int
    cards: int
    bytes: int


def generate(path: Path, n: int, seed: int = 6, markup: float = 0.05) -> DeckInfo:
    """Write a deck of n notes to path; the same (n, seed, markup) always gives the same bytes."""
    rng = random.Random(f"factdeck-bench:{seed}:{n}:{markup}")
    gen = _Text(rng, markup)
    width = max(6, len(str(n)))
    cards = 0
    lines = [
        "# Generated by benchmarks/bench_build.py: do not edit.\n",
        'deck:\n  id: bench\n  name: "Bench::Big"\n',
        f'  description: "Generated benchmark deck: {n} notes, seed {seed}."\n',
        "tags: [bench]\n",
        "sources:\n",
    ]
    for key, title, url in SOURCES:
        lines.append(f"  {key}:\n    title: {_q(title)}\n")
        if url:
            lines.append(f"    url: {_q(url)}\n")
    lines.append("notes:\n")
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.writelines(lines)
        buf = []
        for i in range(1, n + 1):
            # Every source is cited (else factdeck warns), then sources are drawn at random.
            source = SOURCES[i - 1][0] if i <= len(SOURCES) else rng.choice(SOURCES)[0]
            tags = rng.sample(TAGS, 2)
            note = [f"  - id: n{i:0{width}d}\n"]
            if i % 2:  # basic
                note.append(f"    front: {_q(gen.field(QUESTIONS, end=''))}\n")
                note.append(f"    back: {_q(gen.field(SENTENCES))}\n")
                cards += 1
            else:  # cloze with two gaps
                note.append(f"    text: {_q(gen.field(SENTENCES, gaps=2))}\n")
                cards += 2
            if rng.random() < EXTRA_SHARE:
                note.append(f"    extra: {_q(gen.sentence(rng.choice(EXTRAS)))}\n")
            note.append(f"    tags: [{tags[0]}, {tags[1]}]\n    sources: [{source}]\n")
            buf.append("".join(note))
            if len(buf) >= 5000:
                f.writelines(buf)
                buf = []
        f.writelines(buf)
    return DeckInfo(path, n, cards, path.stat().st_size)


# --------------------------------------------------------------------------------------------
# Measuring
# --------------------------------------------------------------------------------------------


@dataclass
class Run:
    wall: float  # seconds
    cpu: float  # user + system seconds of the child and the children it reaped
    rss_mb: float  # peak RSS of the largest single process (kernel)
    tree_mb: float  # peak of the summed memory of the whole process tree (sampled)
    rc: int

    @property
    def mem_mb(self) -> float:
        """What the memory target is judged on: the larger of the two peaks."""
        return max(self.rss_mb, self.tree_mb)


def _maxrss_mb(ru) -> float:
    # Linux reports kilobytes, macOS bytes.
    return ru.ru_maxrss / (1024 * 1024 if sys.platform == "darwin" else 1024)


def _tree(pid: int) -> list[int]:
    """pid and all its descendants (Linux /proc; [pid] elsewhere)."""
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except OSError:
            pass
    return found


def _memory_kb(pid: int) -> int:
    """Proportional set size (shared pages split between sharers), else RSS, in kB; 0 if gone."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024
    except (OSError, ValueError, IndexError):
        return 0


class _TreeSampler(threading.Thread):
    """Samples the summed PSS of a process tree every `interval` seconds; keeps the maximum.

    The kernel's ru_maxrss is the peak of the largest single process, which undercounts a
    build that forks workers; this catches what all of them hold together (to the sampling
    interval).
    """

    def __init__(self, pid: int, interval: float = 0.05):
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak_kb = 0
        self.done = threading.Event()

    def run(self) -> None:
        if not os.path.isdir("/proc"):
            return
        while not self.done.is_set():
            self.peak_kb = max(self.peak_kb, sum(_memory_kb(p) for p in _tree(self.pid)))
            self.done.wait(self.interval)


def measure(cmd: list[str], cwd: Path, log: Path, env: dict[str, str], timeout: float | None = None) -> Run:
    """Run cmd once; wall time around spawn..reap, CPU and peak RSS from the kernel via wait4,
    plus the sampled peak memory of the whole process tree.

    ``os.wait4`` returns the rusage of exactly this child (and the grandchildren it reaped),
    so no measurement can inherit a larger peak from an earlier one, unlike a long-lived
    process's ``getrusage(RUSAGE_CHILDREN)``. A run over ``timeout`` seconds is killed
    (exit code -9) and reported as failed.
    """
    with open(log, "ab") as out:
        out.write(f"$ {' '.join(cmd)}\n".encode())
        out.flush()
        start = time.perf_counter()
        proc = subprocess.Popen(
            cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True
        )
        sampler = _TreeSampler(proc.pid)
        sampler.start()
        killer = None
        if timeout:
            killer = threading.Timer(timeout, _kill_group, (proc.pid,))
            killer.start()
        _, status, ru = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        if killer:
            killer.cancel()
        sampler.done.set()
        sampler.join()
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here; tell Popen
    return Run(wall, ru.ru_utime + ru.ru_stime, _maxrss_mb(ru), sampler.peak_kb / 1024, proc.returncode)


def _kill_group(pid: int) -> None:
    """Kill the timed-out run and the workers it started (its own session, see measure)."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass


@dataclass
class Pipeline:
    name: str
    what: str
    cmd: list[str]
    output: Path | None = None  # the package it writes
    before: list[Path] = field(default_factory=list)  # files deleted before each run
    runs: list[Run] = field(default_factory=list)
    package_bytes: int | None = None
    digests: set[str] = field(default_factory=set)  # of the package after each run
    verified: str = ""

    def ok(self) -> bool:
        return bool(self.runs) and all(r.rc == 0 for r in self.runs)

    def median(self, attr: str) -> float:
        return statistics.median(getattr(r, attr) for r in self.runs)


def count_package(path: Path) -> tuple[int, int]:
    """(notes, cards) in an .apkg's collection."""
    with zipfile.ZipFile(path) as zf:
        name = "collection.anki21" if "collection.anki21" in zf.namelist() else "collection.anki2"
        data = zf.read(name)
    db = sqlite3.connect(":memory:")
    try:
        db.deserialize(data)
        return (
            db.execute("SELECT count(*) FROM notes").fetchone()[0],
            db.execute("SELECT count(*) FROM cards").fetchone()[0],
        )
    finally:
        db.close()


def pipelines(deck: DeckInfo, work: Path, naive: bool) -> list[Pipeline]:
    py = sys.executable
    n = deck.notes
    out = {name: work / f"{name}-{n}.apkg" for name in ("floor", "factdeck", "naive-safe", "naive-csafe")}
    lock = deck.path.with_suffix(".lock")
    factdeck = [py, "-m", "factdeck"]
    found = [
        Pipeline(
            "startup",
            "`factdeck --version`: interpreter start and imports, for reading small N",
            [*factdeck, "--version"],
        ),
        Pipeline(
            "floor",
            "libyaml events -> rows -> SQLite -> deflate zip (benchmarks/floor.py)",
            [py, str(HERE / "floor.py"), str(deck.path), str(out["floor"])],
            out["floor"],
            [out["floor"]],
        ),
        Pipeline(
            "build",
            "`factdeck build DECK -o OUT.apkg`, lock deleted before each run",
            [*factdeck, "build", str(deck.path), "-o", str(out["factdeck"]), "-q"],
            out["factdeck"],
            [lock, out["factdeck"]],
        ),
        # Runs right after `build` in each round, so the lock that build wrote is in place.
        Pipeline(
            "rebuild",
            "`factdeck build` again with the existing lock (nothing changed)",
            [*factdeck, "build", str(deck.path), "-o", str(out["factdeck"]), "-q"],
            out["factdeck"],
        ),
        Pipeline(
            "check",
            "`factdeck check DECK` (load, validate, render; writes nothing)",
            [*factdeck, "check", str(deck.path)],
        ),
    ]
    if naive:
        for mode, what in (("safe", "yaml.safe_load"), ("csafe", "yaml.load(CSafeLoader)")):
            name = f"naive-{mode}"
            found.append(
                Pipeline(
                    name,
                    f"{what} + genanki (stock note types, stored zip)",
                    [py, str(HERE / "naive.py"), mode, str(deck.path), str(out[name])],
                    out[name],
                    [out[name]],
                )
            )
    return found


def bench(
    deck: DeckInfo, work: Path, runs: int, naive: bool, env: dict[str, str], timeout: float | None = None
) -> list[Pipeline]:
    found = pipelines(deck, work, naive)
    log = work / f"bench-{deck.notes}.log"
    log.unlink(missing_ok=True)
    for round_ in range(1, runs + 1):
        for p in found:
            for path in p.before:
                path.unlink(missing_ok=True)
            r = measure(p.cmd, work, log, env, timeout)
            p.runs.append(r)
            if r.rc == 0 and p.output is not None and p.output.exists():
                p.digests.add(hashlib.sha256(p.output.read_bytes()).hexdigest())
            status = "" if r.rc == 0 else f"  EXIT {r.rc} (see {log})"
            print(
                f"  N={deck.notes:<7} run {round_}/{runs} {p.name:<12} {r.wall:7.2f} s  "
                f"cpu {r.cpu:7.2f} s  rss {r.rss_mb:6.0f} MB  tree {r.tree_mb:6.0f} MB{status}",
                flush=True,
            )
    for p in found:
        if p.output is not None and p.ok() and p.output.exists():
            p.package_bytes = p.output.stat().st_size
            try:
                notes, cards = count_package(p.output)
            except Exception as e:
                p.verified = f"unreadable package: {e}"
            else:
                if (notes, cards) != (deck.notes, deck.cards):
                    p.verified = (
                        f"package holds {notes} notes / {cards} cards, expected {deck.notes} / {deck.cards}"
                    )
    # factdeck promises the same bytes for the same input (and SOURCE_DATE_EPOCH is fixed).
    builds = [p for p in found if p.name in ("build", "rebuild") and p.ok()]
    if len({d for p in builds for d in p.digests}) > 1:
        for p in builds:
            p.verified = (p.verified + "; " if p.verified else "") + "packages differ between runs"
    return found


# --------------------------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------------------------


def source_version() -> str:
    """The factdeck code measured: git HEAD (read from .git, no git command) and a hash of the
    package's .py files, which also changes with uncommitted edits."""
    try:
        import factdeck

        pkg = Path(factdeck.__file__).resolve().parent
    except ImportError:
        return "?"
    digest = hashlib.sha256()
    for path in sorted(pkg.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    head = "?"
    for root in (pkg, *pkg.parents):
        git = root / ".git"
        if git.is_dir():
            try:
                ref = (git / "HEAD").read_text().strip()
                if ref.startswith("ref: "):
                    name = ref[5:]
                    ref_file = git / name
                    if ref_file.exists():
                        ref = ref_file.read_text().strip()
                    else:
                        packed = (git / "packed-refs").read_text().splitlines()
                        ref = next((line.split()[0] for line in packed if line.endswith(" " + name)), "?")
                head = ref[:12]
            except OSError:
                pass
            break
    return f"HEAD {head}, src/factdeck/*.py sha256 {digest.hexdigest()[:12]}"


def machine() -> list[tuple[str, str]]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    try:
        import yaml

        pyyaml = f"{yaml.__version__}, libyaml {'yes' if yaml.__with_libyaml__ else 'NO'}"
    except ImportError:
        pyyaml = "not installed"
    try:
        from importlib.metadata import version

        factdeck = version("factdeck")
    except Exception:
        factdeck = "?"
    return [
        ("Date", dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")),
        ("CPU", cpu),
        ("Cores", str(os.cpu_count())),
        ("RAM", ram),
        ("OS", platform.platform()),
        ("Python", f"{platform.python_version()} ({sys.executable})"),
        ("PyYAML", pyyaml),
        ("SQLite", sqlite3.sqlite_version),
        ("factdeck", factdeck),
    ]


def _load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"


def _mb(b: float) -> str:
    return f"{b / 1e6:.2f}"


def table(deck: DeckInfo, found: list[Pipeline], runs: int, context: dict[str, str]) -> list[str]:
    """One size's results: the pipelines, then the targets. ``context``: load, source, source_after."""
    floor = next(p for p in found if p.name == "floor")
    ft = floor.median("wall") if floor.ok() else None
    fs = floor.package_bytes
    lines = [
        f"### {deck.notes:,} notes ({deck.cards:,} cards, {_mb(deck.bytes)} MB of YAML), "
        f"median of {runs} run{'s' * (runs != 1)}",
        "",
        f"Load average before: {context['load']}. factdeck source: {context['source']}.",
        "",
    ]
    if context["source_after"] != context["source"]:
        lines += [
            f"**Warning: factdeck's source changed during these runs (now {context['source_after']}); "
            "the runs may mix versions.**",
            "",
        ]
    lines += [
        "| pipeline | median s | min-max s | x floor | CPU s | peak RSS MB | peak total MB "
        "| package MB | x floor size |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p in found:
        if not p.ok():
            codes = sorted({r.rc for r in p.runs})
            why = " (-9: killed after --timeout)" if -9 in codes else ""
            lines.append(f"| {p.name} | FAILED (exit {codes}){why} | | | | | | | |")
            continue
        t = p.median("wall")
        walls = [r.wall for r in p.runs]
        size = p.package_bytes
        lines.append(
            "| "
            + " | ".join(
                [
                    p.name,
                    f"{t:.2f}",
                    f"{min(walls):.2f}-{max(walls):.2f}",
                    f"{t / ft:.2f}" if ft else "-",
                    f"{p.median('cpu'):.2f}",
                    f"{p.median('rss_mb'):.0f}",
                    f"{p.median('tree_mb'):.0f}",
                    _mb(size) if size else "-",
                    f"{size / fs:.2f}" if size and fs else "-",
                ]
            )
            + " |"
        )
    lines.append("")
    for p in found:
        lines.append(f"- **{p.name}**: {p.what}" + (f" -- **{p.verified}**" if p.verified else ""))
    lines.append("")

    build = next(p for p in found if p.name == "build")
    lines += ["| target (build, fresh lock) | value | limit | result |", "|---|---:|---:|---|"]
    if build.ok() and ft:
        t_ratio = build.median("wall") / ft
        best_ratio = min(r.wall for r in build.runs) / min(r.wall for r in floor.runs)
        cpu_ratio = build.median("cpu") / floor.median("cpu")
        rss = build.median("mem_mb")
        lines.append(
            f"| time vs floor (median; best-of-{runs} ratio, CPU ratio) | {t_ratio:.2f}x "
            f"({best_ratio:.2f}x, CPU {cpu_ratio:.2f}x) | {TARGET_TIME}x | "
            f"{'PASS' if t_ratio <= TARGET_TIME else 'FAIL'} |"
        )
        lines.append(
            f"| peak memory (all processes) | {rss:.0f} MB | < {TARGET_RSS_MB:.0f} MB | "
            f"{'PASS' if rss < TARGET_RSS_MB else 'FAIL'} |"
        )
        if build.package_bytes and fs:
            s_ratio = build.package_bytes / fs
            lines.append(
                f"| package size vs floor | {s_ratio:.2f}x | {TARGET_SIZE}x | "
                f"{'PASS' if s_ratio <= TARGET_SIZE else 'FAIL'} |"
            )
        if build.verified:
            why = " (the source changed mid-run)" if context["source_after"] != context["source"] else ""
            lines.append(f"| package contents | {build.verified}{why} | N notes, same bytes | FAIL |")
    else:
        lines.append("| all | build or floor failed | | FAIL |")
    lines.append("")
    return lines


def render(sections: list[list[str]], argv: list[str]) -> str:
    head = [
        "# factdeck build benchmark",
        "",
        f"Generated by `python benchmarks/bench_build.py {' '.join(argv)}`; see benchmarks/README.md.",
        "",
        "| machine | |",
        "|---|---|",
    ]
    head += [f"| {k} | {v} |" for k, v in machine()]
    head += [
        "",
        f"Targets for `factdeck build`: wall time <= {TARGET_TIME}x the floor's, peak RSS "
        f"< {TARGET_RSS_MB:.0f} MB, package <= {TARGET_SIZE}x the floor's. Times are medians of "
        "interleaved runs on a possibly busy machine; CPU s (user+sys, including worker processes) "
        "is less sensitive to other load than wall time. Peak RSS is the kernel's peak of the largest "
        "single process; peak total is the summed PSS of the whole process tree, sampled every 50 ms "
        "(what a build with worker processes really holds). The memory target uses the larger.",
        "",
    ]
    return "\n".join(head + [line for s in sections for line in s]).rstrip() + "\n"


# --------------------------------------------------------------------------------------------


def _counts(text: str) -> list[int]:
    values = []
    for part in text.split(","):
        part = part.strip().lower().replace("_", "")
        scale = 1000 if part.endswith("k") else 1
        values.append(int(part.rstrip("k")) * scale)
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("give note counts like 1000,10000,100000 (or 1k,10k,100k)")
    return values


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--notes", type=_counts, default=[100_000], help="note counts, comma-separated (default 100000)"
    )
    ap.add_argument("--runs", type=int, default=3, help="runs per pipeline; medians are reported (default 3)")
    ap.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="results file (default benchmarks/RESULTS.md)"
    )
    ap.add_argument("--work", type=Path, default=DEFAULT_WORK, help="work folder (default benchmarks/work/)")
    ap.add_argument("--keep", action="store_true", help="keep the generated decks and packages")
    ap.add_argument("--seed", type=int, default=6, help="seed of the generated decks (default 6)")
    ap.add_argument(
        "--markup",
        type=float,
        default=0.05,
        help="share of fields with Markdown emphasis, which takes the Markdown path (default 0.05)",
    )
    ap.add_argument(
        "--naive-max",
        type=int,
        default=10_000,
        help="run the naive PyYAML+genanki baselines only up to this many notes (default 10000)",
    )
    ap.add_argument(
        "--timeout",
        type=float,
        default=1800,
        help="kill a run after this many seconds and report it failed (default 1800)",
    )
    ap.add_argument("--generate-only", action="store_true", help="only write the decks (implies --keep)")
    args = ap.parse_args(argv)
    if args.runs < 1:
        ap.error("--runs must be at least 1")

    try:
        import factdeck  # noqa: F401
    except ImportError:
        ap.error(f"factdeck is not importable from {sys.executable}; run with the venv's python")

    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, SOURCE_DATE_EPOCH=SOURCE_DATE_EPOCH)
    created: list[Path] = []
    sections: list[list[str]] = []
    try:
        for n in args.notes:
            path = work / f"bench-{n}.yaml"
            start = time.perf_counter()
            deck = generate(path, n, args.seed, args.markup)
            created.append(path)
            print(
                f"generated {path} ({n} notes, {deck.cards} cards, {_mb(deck.bytes)} MB) "
                f"in {time.perf_counter() - start:.1f} s",
                flush=True,
            )
            if args.generate_only:
                continue
            context = {"load": _load(), "source": source_version()}
            found = bench(deck, work, args.runs, n <= args.naive_max, env, args.timeout)
            context["source_after"] = source_version()
            created += [p.output for p in found if p.output is not None]
            created.append(path.with_suffix(".lock"))
            if all(p.ok() for p in found):
                created.append(work / f"bench-{n}.log")  # a failure's log stays for reading
            sections.append(table(deck, found, args.runs, context))
            text = render(sections, argv)  # rewritten after every N, so a long sweep keeps partial results
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(text, encoding="utf-8")
            print()
            print("\n".join(sections[-1]), flush=True)
    finally:
        if not (args.keep or args.generate_only):
            for p in set(created):
                p.unlink(missing_ok=True)
            try:
                work.rmdir()  # only when empty: never remove what we did not create
            except OSError:
                pass
    if sections:
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
