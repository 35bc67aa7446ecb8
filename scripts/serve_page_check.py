#!/usr/bin/env python3
"""Drives the `swiftcap serve` web page in real headless Chromium (Debian's chromium + chromium-driver):
chooses a photo in the page's file input, waits for the caption, prints it as JSON and saves a screenshot.

    python scripts/serve_page_check.py --url http://127.0.0.1:8080/ --photo PHOTO.jpg --screenshot out.png

Exit status 0 with {"caption": ..., "boxes_drawn": ..., "concepts": N} on stdout, 1 with a message otherwise.
"""
import argparse
import json
import os
import shutil
import sys

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--photo", required=True)
    ap.add_argument("--screenshot", required=True)
    ap.add_argument("--timeout", type=float, default=60)
    args = ap.parse_args()

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    driver_path = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1280,900", "--no-first-run", "--disable-extensions"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    try:
        driver.set_page_load_timeout(args.timeout)
        driver.get(args.url)
        driver.find_element(By.ID, "file").send_keys(os.path.abspath(args.photo))
        wait = WebDriverWait(driver, args.timeout)
        wait.until(lambda d: d.find_element(By.ID, "caption").text.strip()
                   or "error" in (d.find_element(By.ID, "status").get_attribute("class") or ""))
        caption = driver.find_element(By.ID, "caption").text.strip()
        status = driver.find_element(By.ID, "status").text.strip()
        if not caption:
            print(f"no caption; page status: {status}", file=sys.stderr)
            return 1
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#timings tr")))
        width = driver.execute_script("return document.getElementById('photo').width")
        # A pixel on the bear's box edge is the box colour only if boxes were drawn; report the canvas size
        # and the number of concept rows instead of guessing colours.
        concepts = len(driver.find_elements(By.CSS_SELECTOR, "#concepts tr")) - 1
        timings = [r.text for r in driver.find_elements(By.CSS_SELECTOR, "#timings tr")][1:]
        driver.save_screenshot(args.screenshot)
        print(json.dumps({"caption": caption, "status": status, "canvas_width": width,
                          "concepts": concepts, "timings": timings}))
        return 0
    finally:
        driver.quit()


if __name__ == "__main__":
    sys.exit(main())
