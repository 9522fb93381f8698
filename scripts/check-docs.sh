#!/usr/bin/env bash
# Checks that the docs point at things that exist: in every tracked Markdown
# file outside vendor/, each relative link's file and #anchor (GitHub's heading slugs); in
# README.md and docs/*.md, each path named in backticks whose first part is a
# top-level entry of the repository, each `make -C DIR`, each
# `cargo test ... --test NAME` and each lone `--flag` of the rpc-server or
# im-bench. Prints one line per problem; exits 1 if there is any. Quick: it
# only reads files.
set -euo pipefail
cd "$(dirname "$0")/.."
"${PYTHON:-python3}" - <<'PY'
import glob, os, re, subprocess, sys

tracked = [f for f in subprocess.run(["git", "ls-files", "-z"], capture_output=True, check=True).stdout.decode().split("\0") if f]
top = {f.split("/")[0] for f in tracked}
# vendor/ holds published crates as they were published (their own READMEs).
tracked = [f for f in tracked if not f.startswith("vendor/")]
problems = []

def slug(heading):
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")

def anchors(path):
    found, seen, fence = set(), {}, False
    for line in open(path, encoding="utf-8"):
        if line.startswith("```"):
            fence = not fence
        m = None if fence else re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m:
            base = slug(m.group(1))
            n = seen.get(base, 0)
            seen[base] = n + 1
            found.add(base if n == 0 else f"{base}-{n}")
    return found

def exists(path):
    return os.path.exists(path.rstrip("/"))

def prose(path):
    """The file's lines outside fenced code blocks, with their numbers."""
    fence = False
    for number, line in enumerate(open(path, encoding="utf-8"), 1):
        if line.startswith("```"):
            fence = not fence
            continue
        if not fence:
            yield number, line

config = open("rpc-server/src/config.rs", encoding="utf-8").read()
# im-bench's flags: cli.rs and its subcommands' modules (capacity/).
bench_cli = "".join(
    open(f, encoding="utf-8").read() for f in sorted(glob.glob("bench/src/**/*.rs", recursive=True))
)

for md in (f for f in tracked if f.endswith(".md")):
    where = os.path.dirname(md)
    for number, line in prose(md):
        for target in re.findall(r"\]\(([^)\s]+)\)", line):
            if re.match(r"[a-z]+://|mailto:", target):
                continue
            file, _, anchor = target.partition("#")
            resolved = os.path.normpath(os.path.join(where, file)) if file else md
            if not exists(resolved):
                problems.append(f"{md}:{number}: link to missing {target}")
            elif anchor and resolved.endswith(".md") and anchor not in anchors(resolved):
                problems.append(f"{md}:{number}: no heading for #{anchor} in {resolved}")

named = ["README.md"] + [f for f in tracked if f.startswith("docs/") and f.endswith(".md")]
for md in named:
    for number, line in prose(md):
        for code in re.findall(r"`([^`]+)`", line):
            words = code.split()
            for word in words:
                word = word.strip(",;:()'\"")
                first = word.split("/")[0]
                if "/" in word and first in top and not re.search(r"[<>*{}]|\.\.\.", word):
                    if not exists(word):
                        problems.append(f"{md}:{number}: no such path: {word}")
            for i, word in enumerate(words[:-1]):
                if word == "-C" and words[0] == "make" and not exists(os.path.join(words[i + 1], "Makefile")):
                    problems.append(f"{md}:{number}: no Makefile in {words[i + 1]}")
                if word == "--test" and words[0] == "cargo":
                    name = words[i + 1]
                    if not (exists(f"rpc-server/tests/{name}.rs") or exists(f"rpc-server/tests/{name}/main.rs")):
                        problems.append(f"{md}:{number}: no test target {name}")
            if len(words) <= 2 and re.fullmatch(r"--[a-z][a-z-]*", words[0]):
                field = words[0][2:].replace("-", "_")
                if not re.search(rf"\bpub {field}:", config) and not re.search(rf"\b{field}\b", bench_cli):
                    problems.append(f"{md}:{number}: no flag {words[0]} in config.rs or bench/src/")

for problem in problems:
    print(problem)
sys.exit(1 if problems else 0)
PY
