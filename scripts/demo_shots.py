#!/usr/bin/env python3
"""Screenshots for docs/demo.md, taken with headless Chromium (Debian's `chromium`) from a
running `confeitaria up --learners 1`, through the DevTools driver of
storefront/tests/browser.py (standard library only).

    scripts/demo_shots.py --base http://127.0.0.1:8000 \
        --confeitaria "target/release/confeitaria" --out docs/screenshots \
        [--terminal demo.txt]

- painel-learner.png: the dashboard with three voters and a learner;
- painel-sem-lider.png: two voters killed (`node kill`): no leader, their breakers open;
- vitrine-sem-lider.png: the storefront still browsable meanwhile;
- demo-terminal.png (with --terminal): the text `confeitaria demo` printed, as a terminal.

The killed nodes are started again before it exits. Exits non-zero, saying which step
failed, when the shop does not behave.
"""

import argparse
import html
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "storefront", "tests"))
from browser import DESKTOP, Chrome, Failed  # noqa: E402


def cli(confeitaria, *args):
    cmd = shlex.split(confeitaria) + list(args)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise Failed("%s: %s%s" % (" ".join(cmd), r.stdout, r.stderr))
    return r.stdout


def terminal(c, text_path, out):
    """Renders a text file as a dark terminal page and screenshots it."""
    with open(text_path, encoding="utf-8") as f:
        text = f.read()
    page = (
        "<!doctype html><meta charset=utf-8><style>"
        "body{margin:0;background:#1e1e1e}"
        "pre{margin:0;padding:16px 20px;color:#d4d4d4;font:13px/1.35 'DejaVu Sans Mono',monospace;"
        "white-space:pre-wrap;width:1240px}"
        ".ok{color:#89d185}.no{color:#f48771}.v{color:#e5c07b;font-weight:bold}.h{color:#61afef}"
        "</style><pre>"
    )
    for line in text.splitlines():
        esc = html.escape(line)
        if line.startswith(("VEREDITO", "VERDICT")):
            esc = "<span class=v>%s</span>" % esc
        elif line.startswith("━━━"):
            esc = "<span class=h>%s</span>" % esc
        elif line.lstrip().startswith("✔"):
            esc = "<span class=ok>%s</span>" % esc
        elif line.lstrip().startswith("✘"):
            esc = "<span class=no>%s</span>" % esc
        page += esc + "\n"
    page += "</pre>"
    with tempfile.NamedTemporaryFile("w", suffix=".html", delete=False, encoding="utf-8") as f:
        f.write(page)
        name = f.name
    try:
        c.goto("file://" + name, "document.querySelector('pre')", "the terminal page")
        c.shot(os.path.join(out, "demo-terminal.png"))
    finally:
        os.unlink(name)


def painel(c, base, out, confeitaria):
    png = lambda name: os.path.join(out, name + ".png")
    c.goto(base + "/painel", "document.querySelector('.no')", "the dashboard")
    c.wait(
        "document.querySelectorAll('.no').length >= 4 && document.querySelector('.no.leader') && "
        "document.querySelectorAll('.no.caido').length === 0",
        "the dashboard with four live nodes (three voters and a learner) and a leader",
        timeout=30,
    )
    c.shot(png("painel-learner"))

    status = json.loads(cli(confeitaria, "--json", "status"))
    leader = status["leader"]
    other = next(i for i in (1, 2, 3) if i != leader)
    print("-- killing nodes", leader, "and", other, flush=True)
    cli(confeitaria, "node", "kill", str(leader))
    cli(confeitaria, "node", "kill", str(other))
    try:
        dead = " && ".join(
            "document.querySelector(\".no[data-no='%d']\").classList.contains('caido') && "
            "Array.from(document.querySelectorAll(\".no[data-no='%d'] dd.ruim\"))"
            ".map(function(d){return d.textContent;}).join(' ') === 'fora aberto'" % (n, n)
            for n in (leader, other)
        )
        c.wait(
            dead + " && !document.querySelector('.no.leader')",
            "two nodes down with their breakers open, and no leader",
            timeout=30,
        )
        c.shot(png("painel-sem-lider"))
        c.goto(base + "/", "document.querySelector('main')", "the storefront")
        c.shot(png("vitrine-sem-lider"))
    finally:
        for n in (leader, other):
            try:
                cli(confeitaria, "node", "start", str(n))
            except Failed as e:
                print("could not start node %d again: %s" % (n, e), file=sys.stderr)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--base", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--confeitaria", required=True, help="command that reaches `up`")
    p.add_argument("--terminal", help="text printed by `confeitaria demo`")
    p.add_argument("--chromium", default=os.environ.get("CHROMIUM", "chromium"))
    a = p.parse_args()
    os.makedirs(a.out, exist_ok=True)
    binary = shutil.which(a.chromium)
    if not binary:
        print("chromium not found: install the Debian package chromium", file=sys.stderr)
        return 2
    c = Chrome(binary)
    try:
        c.viewport(DESKTOP)
        if a.terminal:
            terminal(c, a.terminal, a.out)
        painel(c, a.base, a.out, a.confeitaria)
        print("demo_shots: ok")
        return 0
    except Failed as e:
        print("demo_shots: FAILED:", e, file=sys.stderr)
        return 1
    finally:
        c.close()


if __name__ == "__main__":
    sys.exit(main())
