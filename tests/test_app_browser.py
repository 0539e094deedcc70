"""End to end: app.py serving a tiny saved ChatNT on localhost, driven in headless Chromium.

The browser is the system's (Debian's ``chromium``, which ``make setup`` installs); Playwright only
drives it, nothing is downloaded. Without a chromium binary the test is skipped, saying so.
"""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
import torch
from chatnt import ChatNTForConditionalGeneration, ChatNTProcessor, NucleotideTransformerTokenizer
from helpers import REPO_ROOT, random_dna, tiny_chatnt_config
from playwright.sync_api import sync_playwright

CHROMIUM = next(
    (path for path in (os.environ.get("CHROMIUM"), shutil.which("chromium"), shutil.which("chromium-browser")) if path),
    None,
)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no chromium binary: install Debian's browser (apt-get install -y chromium, as `make setup` does) "
           "or point $CHROMIUM at one",
)
STARTUP_SECONDS = 90
ANSWER_MS = 30_000


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def served_app(tmp_path_factory, text_tokenizer):
    """``python app.py`` on a free localhost port with a tiny saved model; yields its URL."""
    root = tmp_path_factory.mktemp("app")
    model_dir = root / "chatnt-tiny"
    torch.manual_seed(0)
    ChatNTForConditionalGeneration(tiny_chatnt_config(text_tokenizer)).save_pretrained(model_dir)
    ChatNTProcessor(text_tokenizer, NucleotideTransformerTokenizer(), dna_tokens_per_sequence=4).save_pretrained(model_dir)
    port = _free_port()
    log_path = root / "app.log"
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            [sys.executable, str(REPO_ROOT / "app.py"), "--model", str(model_dir), "--port", str(port), "--max-new-tokens", "4"],
            stdout=log, stderr=subprocess.STDOUT, env=environment, cwd=root,
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if server.poll() is not None:
                pytest.fail(f"app.py exited with code {server.returncode} before serving:\n{log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"app.py did not serve {url} within {STARTUP_SECONDS} s:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()


@pytest.fixture
def browser():
    with sync_playwright() as playwright:
        # --no-sandbox: Chromium's sandbox refuses to start as root, which CI containers often are.
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield chromium
        chromium.close()


def _ask(page, text: str, files=()):
    if files:
        # Submitting before the upload request has finished would send the message without its files.
        with page.expect_response(lambda response: "/upload" in response.url and response.ok, timeout=ANSWER_MS):
            page.set_input_files("#chat-input input[data-testid=file-upload]", [str(path) for path in files])
        thumbnails = page.locator("#chat-input [aria-label='File thumbnail']")
        thumbnails.nth(len(files) - 1).wait_for(timeout=ANSWER_MS)
    page.fill("#chat-input textarea", text)
    page.click("#chat-input button[data-testid=submit-button]")


def test_upload_a_fasta_ask_and_see_the_answer_with_its_confidence_and_plot(served_app, browser, tmp_path):
    fasta = tmp_path / "my_records.fa"
    fasta.write_text(f">enhancer_7 from the browser test\n{random_dna(90, seed=3)}\n")
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(served_app, wait_until="domcontentloaded")
    page.wait_for_selector("#chat-input textarea", timeout=ANSWER_MS)

    _ask(page, "Is @enhancer_7 a promoter? Answer yes or no.", [fasta])
    answer = page.locator("#chat .bot").filter(has_text="Confidence").last
    answer.wait_for(timeout=ANSWER_MS)
    assert "P(yes) = " in answer.inner_text()
    page.wait_for_selector("#attribution-plot img", timeout=ANSWER_MS)
    assert "Attribution of the last answer" in page.locator("#attribution-caption").inner_text()
    assert "my_records.fa" in page.locator("#chat").inner_text()  # the upload shows in the conversation

    # A path instead of an upload: refused in the chat, and the next answer still works (history kept).
    _ask(page, "Is @../../etc/passwd a promoter?")
    page.locator("#chat .bot").filter(has_text="looks like a file path").wait_for(timeout=ANSWER_MS)
    _ask(page, "Are you sure?")
    page.wait_for_function(
        "() => [...document.querySelectorAll('#chat .bot')].filter(m => m.innerText.includes('Confidence')).length >= 2",
        timeout=ANSWER_MS,
    )
    screenshot = tmp_path / "app.png"
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and screenshot.stat().st_size > 10_000


def test_an_example_prompt_runs_on_the_bundled_fasta(served_app, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(served_app, wait_until="domcontentloaded")
    page.get_by_text("Which of @promoter_candidate and @shuffled_control").click(timeout=ANSWER_MS)
    answer = page.locator("#chat .bot").filter(has_text="Confidence").last
    answer.wait_for(timeout=ANSWER_MS)
    assert "first-token probability" in answer.inner_text()
    assert "example.fa" in page.locator("#chat").inner_text()
