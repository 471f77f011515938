"""A real browser for tests: Debian's headless Chromium driven by selenium and chromedriver.

``open_page(path)`` loads a local HTML file (file://, no network) and gives a ``Page``: its
console errors, what an element measures, the widest element, and a screenshot whose pixels
can be checked. Chromium runs with ``--no-sandbox`` only when the tests run as root (its
sandbox refuses root). ``scripts/install-system.sh`` installs chromium and chromium-driver;
tests skip with a reason when they are missing.
"""

from __future__ import annotations

import os
import shutil
import struct
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

__all__ = ["Page", "browser_available", "open_page", "png_is_blank"]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


def browser_available() -> str | None:
    """None when a browser can run here, else why not (for pytest.skip)."""
    if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
        return "chromium and chromium-driver are not installed: run scripts/install-system.sh"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed: pip install -e '.[dev]'"
    return None


@dataclass
class Page:
    driver: Any

    def console_errors(self) -> list[str]:
        """Messages the page logged at SEVERE (errors, failed loads)."""
        return [e["message"] for e in self.driver.get_log("browser") if e.get("level") == "SEVERE"]

    def box(self, css: str) -> dict[str, float]:
        """The first element matching ``css``: its rendered width and height, and whether it is shown."""
        el = self.driver.find_element("css selector", css)
        size = el.size
        return {"width": size["width"], "height": size["height"], "displayed": el.is_displayed()}

    def count(self, css: str) -> int:
        return len(self.driver.find_elements("css selector", css))

    def overflow(self) -> list[str]:
        """Elements whose right edge is past the viewport, and the document's scroll width if it is wider."""
        return list(
            self.driver.execute_script(
                """
                const doc = document.documentElement, w = doc.clientWidth, out = [];
                if (doc.scrollWidth > w) out.push('document ' + doc.scrollWidth);
                for (const el of document.body.querySelectorAll('*')) {
                  const r = el.getBoundingClientRect();
                  if (r.right > w + 1 && r.width > 0) out.push(el.tagName + ' right edge ' + r.right);
                }
                return out.slice(0, 20);
                """
            )
        )

    def screenshot(self, path: Path) -> Path:
        """The full page as PNG (the window is grown to the page's height first)."""
        height = int(self.driver.execute_script("return document.documentElement.scrollHeight"))
        width = int(self.driver.execute_script("return window.outerWidth"))
        self.driver.set_window_size(width, min(max(height + 120, 600), 8000))
        self.driver.save_screenshot(str(path))
        return path


@contextmanager
def open_page(path: Path, *, width: int = 1280, height: int = 900) -> Iterator[Page]:
    """Load ``path`` in a fresh headless Chromium of ``width`` CSS pixels; the browser is quit after."""
    why = browser_available()
    if why:
        pytest.skip(why)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                f"--window-size={width},{height}", "--force-device-scale-factor=1"):  # fmt: skip
        opts.add_argument(arg)
    if os.geteuid() == 0:  # Chromium's sandbox refuses to run as root
        opts.add_argument("--no-sandbox")
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    try:
        driver.set_page_load_timeout(30)
        driver.get(path.resolve().as_uri())
        yield Page(driver)
    finally:
        driver.quit()


def png_is_blank(path: Path, *, max_rows: int = 800) -> bool:
    """True when every pixel of the top ``max_rows`` rows of an 8-bit RGB(A) PNG has one colour (nothing drawn)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is no PNG"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        chunk = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    assert header is not None
    width, _, depth, colour = header[0], header[1], header[2], header[3]
    assert depth == 8 and colour in (2, 6), f"unexpected PNG format {header}"
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp + 1
    # Filter bytes differ per row, so compare unfiltered pixels: undo the PNG filters row by row.
    prev = bytearray(width * bpp)
    colours: set[bytes] = set()
    for row in range(min(max_rows, len(raw) // stride)):
        line = bytearray(raw[row * stride + 1 : (row + 1) * stride])
        _unfilter(raw[row * stride], line, prev, bpp)
        colours.update(bytes(line[i : i + bpp]) for i in range(0, len(line), bpp * 7))
        if len(colours) > 1:
            return False
        prev = line
    return True


def _unfilter(kind: int, line: bytearray, prev: bytearray, bpp: int) -> None:
    for i in range(len(line)):
        a = line[i - bpp] if i >= bpp else 0
        b = prev[i]
        c = prev[i - bpp] if i >= bpp else 0
        if kind == 1:
            line[i] = (line[i] + a) & 0xFF
        elif kind == 2:
            line[i] = (line[i] + b) & 0xFF
        elif kind == 3:
            line[i] = (line[i] + (a + b) // 2) & 0xFF
        elif kind == 4:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
