"""The README's console examples, run as a reader runs them: every ```console block, in order,
in one bash shell, in an empty directory, each `$ ` line a command and the lines under it what
it prints (stdout and stderr as a terminal shows them, tables at 100 columns).

A block preceded by `<!-- readme: numbers vary -->` follows the wall clock (the sped-up demo):
its lines are compared as shapes (every number alike), in order, skipping what was printed
between them (a `...` line is for the reader); tables, and the note of the columns left out,
depend on which pairs the clock made it trade and are not compared.

`python -m tests.readme_examples` checks the README; `--update` writes what the commands print
into it, `--update --vary` into the wall-clock blocks as well (then read the diff, and put the
`...` back, before committing it).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"
VARY = "<!-- readme: numbers vary -->"
FENCE = re.compile(r"^```console\n(.*?)^```$", re.M | re.S)
MARK = "\x1e"  # a record separator no command prints
# The demo's schedule, five times faster: the same five hours of market a cycle.
FAST = {"--interval 5 ": "--interval 1 ", "FRA_SIM__SPEEDUP=3600": "FRA_SIM__SPEEDUP=18000"}
TABLE = ("┏", "┃", "┡", "│", "└", "(left out to fit", "shows them)")


@dataclass
class Command:
    text: str  # as typed, continuation lines joined by "\n"
    expected: list[str] = field(default_factory=list)


@dataclass
class Block:
    start: int  # offset of the block's body in the README
    end: int
    vary: bool
    commands: list[Command]


def blocks(text: str) -> list[Block]:
    found = []
    for match in FENCE.finditer(text):
        vary = text[: match.start()].rstrip().endswith(VARY)
        commands: list[Command] = []
        lines = match.group(1).splitlines()
        i = 0
        while i < len(lines):
            line = lines[i]
            if line.startswith("$ "):
                typed = [line[2:]]
                while typed[-1].endswith("\\") and i + 1 < len(lines):
                    i += 1
                    typed.append(lines[i])
                commands.append(Command("\n".join(typed)))
            elif commands:
                commands[-1].expected.append(line)
            else:
                raise ValueError(f"console block starts with output: {line!r}")
            i += 1
        found.append(Block(match.start(1), match.end(1), vary, commands))
    return found


def environment(workdir: Path) -> dict[str, str]:
    """A reader's shell: fra on the PATH, no FRA_* settings, nothing of the tester's home."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRA_")}
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        HOME=str(workdir),
        COLUMNS="100",
        TZ="UTC",
        PYTHONUNBUFFERED="1",  # stdout and stderr interleave as on a terminal
        NO_COLOR="1",
    )
    return env


def run(found: list[Block], workdir: Path, rewrite: dict[str, str] | None = None) -> list[str]:
    """Each command's output, in order, all typed into one shell. `rewrite` replaces text in
    the commands before they run (the test runs the demo's schedule faster)."""
    script = ["set +e"]
    for block in found:
        for command in block.commands:
            typed = command.text
            for old, new in (rewrite or {}).items():
                typed = typed.replace(old, new)
            script.append(f"printf '{MARK}'\n{typed}")
    done = subprocess.run(
        ["bash", "-c", "\n".join(script) + "\n"],
        cwd=workdir,
        env=environment(workdir),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=900,
    )
    return done.stdout.split(MARK)[1:]


def _shape(line: str) -> str:
    line = re.sub(r"-?\d[\d,.:]*", "N", line)
    line = re.sub(r"[━─]+", "─", line)
    return re.sub(r" +", " ", line).rstrip()


def _compared(line: str) -> bool:
    return line != "..." and not line.startswith(TABLE)


def matches(expected: list[str], actual: list[str], vary: bool) -> bool:
    if not vary:
        return expected == actual
    got = iter(_shape(line) for line in actual if _compared(line))
    return all(any(g == _shape(w) for g in got) for w in expected if _compared(w))


def mismatches(text: str, outputs: list[str]) -> list[str]:
    problems = []
    commands = [(b, c) for b in blocks(text) for c in b.commands]
    for (block, command), output in zip(commands, outputs, strict=True):
        actual = output.splitlines()
        if not matches(command.expected, actual, block.vary):
            problems.append(
                f"$ {command.text}\n--- README\n"
                + "\n".join(command.expected)
                + "\n--- printed\n"
                + "\n".join(actual)
            )
    return problems


def updated(text: str, outputs: list[str], vary: bool = False) -> str:
    """The README with each exact block's outputs (and with `vary`, the others') replaced by
    what was printed."""
    pieces, at, it = [], 0, iter(outputs)
    for block in blocks(text):
        pieces.append(text[at : block.start])
        body = []
        for command in block.commands:
            output = next(it).splitlines()
            body.append(f"$ {command.text}")
            body += command.expected if block.vary and not vary else output
        pieces.append("\n".join(body) + "\n")
        at = block.end
    pieces.append(text[at:])
    return "".join(pieces)


def main() -> int:
    import tempfile

    text = README.read_text()
    with tempfile.TemporaryDirectory() as tmp:
        vary = "--vary" in sys.argv
        outputs = run(blocks(text), Path(tmp), None if vary else FAST)
    if "--update" in sys.argv:
        README.write_text(updated(text, outputs, vary))
        return 0
    problems = mismatches(text, outputs)
    print("\n\n".join(problems) or "the README's examples print what it says")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
