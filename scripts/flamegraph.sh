#!/usr/bin/env bash
# Draws a CPU profile (from /debug/pprof/profile or scripts/profile.sh) as an SVG flame
# graph: one box per function on a call path, as wide as its share of the samples,
# callers below callees. Hover a box for its full name and numbers.
#
# Usage: scripts/flamegraph.sh PROFILE BINARY [OUT.svg]
#   PROFILE  a gperftools CPU profile
#   BINARY   the profiled program, for symbols
#   OUT.svg  default: PROFILE with .svg instead of .prof
#
# google-pprof --collapsed gives the stacks; the SVG is drawn by the Python below.
set -euo pipefail

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
  exit 2
}

(($# == 2 || $# == 3)) || usage
profile="$1"
binary="$2"
out="${3:-${profile%.prof}.svg}"
for f in "${profile}" "${binary}"; do
  [[ -r "${f}" ]] || { echo "flamegraph.sh: cannot read ${f}" >&2; exit 1; }
done
for tool in google-pprof python3; do
  command -v "${tool}" >/dev/null || {
    echo "flamegraph.sh: ${tool} not found (scripts/install-deps.sh installs it)" >&2
    exit 1
  }
done

stacks="$(mktemp)"
trap 'rm -f "${stacks}"' EXIT
google-pprof --collapsed "${binary}" "${profile}" >"${stacks}" 2>/dev/null || {
  echo "flamegraph.sh: google-pprof cannot read ${profile} with ${binary}" >&2
  exit 1
}

python3 - "${stacks}" "${out}" "$(basename "${profile}")" <<'PYTHON'
"""Renders collapsed stacks ("root;caller;callee COUNT" per line) as an SVG flame graph."""
import hashlib
import re
import sys
from xml.sax.saxutils import escape

WIDTH = 1200.0
FRAME_HEIGHT = 16
FONT_SIZE = 11
CHAR_WIDTH = FONT_SIZE * 0.6  # monospace advance
MARGIN = 10
TITLE_HEIGHT = 30
MIN_WIDTH = 0.1  # narrower boxes are not drawn
ADDRESS = re.compile(r"<[0-9a-f]+>$")  # google-pprof appends <address> to some names


class Frame:
    def __init__(self, name):
        self.name = name
        self.count = 0
        self.children = {}


def parse(path):
    root = Frame("all")
    with open(path, encoding="utf-8", errors="replace") as lines:
        for line in lines:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            if not stack or not count.isdigit():
                continue
            samples = int(count)
            root.count += samples
            frame = root
            for name in stack.split(";"):
                name = ADDRESS.sub("", name)
                frame = frame.children.setdefault(name, Frame(name))
                frame.count += samples
    return root


def depth(frame):
    return 1 + max((depth(child) for child in frame.children.values()), default=0)


def color(name):
    # Warm colours, stable per name, so one function has one colour across graphs.
    h = hashlib.md5(name.encode()).digest()
    return "rgb(%d,%d,%d)" % (205 + h[0] % 50, 80 + h[1] % 130, 40 + h[2] % 40)


def render(root, title):
    levels = depth(root)
    height = TITLE_HEIGHT + levels * FRAME_HEIGHT + 2 * MARGIN
    scale = (WIDTH - 2 * MARGIN) / root.count
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
        'viewBox="0 0 %d %d" font-family="monospace" font-size="%d">'
        % (WIDTH, height, WIDTH, height, FONT_SIZE),
        '<rect width="100%" height="100%" fill="#fdfdf6"/>',
        '<text x="%d" y="%d" font-size="15" text-anchor="middle">%s</text>'
        % (WIDTH / 2, MARGIN + 14, escape(title)),
    ]

    def draw(frame, x, level):
        width = frame.count * scale
        if width < MIN_WIDTH:
            return
        y = height - MARGIN - (level + 1) * FRAME_HEIGHT
        share = 100.0 * frame.count / root.count
        label = frame.name
        fits = int((width - 6) / CHAR_WIDTH)
        if len(label) > fits:
            label = label[: fits - 2] + ".." if fits >= 3 else ""
        out.append(
            '<g><title>%s (%d samples, %.2f%%)</title>'
            '<rect x="%.2f" y="%d" width="%.2f" height="%d" rx="2" fill="%s"/>'
            % (escape(frame.name), frame.count, share, x, y, width, FRAME_HEIGHT - 1,
               color(frame.name)))
        if label:
            out.append('<text x="%.2f" y="%d">%s</text>'
                       % (x + 3, y + FRAME_HEIGHT - 4, escape(label)))
        out.append("</g>")
        for name in sorted(frame.children):
            child = frame.children[name]
            draw(child, x, level + 1)
            x += child.count * scale

    draw(root, MARGIN, 0)
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main():
    stacks, svg, name = sys.argv[1:4]
    root = parse(stacks)
    if root.count == 0:
        sys.exit("flamegraph.sh: the profile has no samples (was the process busy?)")
    with open(svg, "w", encoding="utf-8") as f:
        f.write(render(root, "CPU flame graph of %s: %d samples" % (name, root.count)))


main()
PYTHON
echo "flamegraph.sh: wrote ${out}" >&2
