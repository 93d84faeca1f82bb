#!/usr/bin/env python3
"""Checks that a greenbatch report parses as XML (the report is well-formed XHTML, inline SVG
included), holds the seven sections and SVG figures, and loads nothing from elsewhere.

    check_html.py REPORT.html MIN_FIGURES
"""
import sys
import xml.etree.ElementTree as ET

path, min_figures = sys.argv[1], int(sys.argv[2])
root = ET.parse(path).getroot()
svg = "{http://www.w3.org/2000/svg}svg"
figures = root.findall(f".//{svg}")
headings = [h.text or "" for h in root.iter("h2")]
problems = []
if len(figures) < min_figures:
    problems.append(f"{len(figures)} SVG figures, expected at least {min_figures}")
for n in range(1, 8):
    if not any(h.startswith(f"{n}.") for h in headings):
        problems.append(f"no section {n}")
for el in root.iter():
    for attr in ("src", "href"):
        if el.get(attr):
            problems.append(f"<{el.tag}> loads {el.get(attr)}")
if problems:
    sys.exit("check_html: " + "; ".join(problems))
print(f"check_html: {path} parses; {len(figures)} figures, sections: {len(headings)}")
