"""Installs the repository root as the package ``chatnt``.

The root is also a Hugging Face Hub model repository: the remote-code files
(``configuration_*.py``, ``modeling_*.py``, ``processing_chatnt.py``, ...) stand at the top level and
import each other only relatively, so ``trust_remote_code=True`` can load them without this package.
"""

from setuptools import setup

SUBPACKAGES = ["training", "training.dnahlm", "tokenizer", "evaluation", "commands"]

setup(
    name="chatnt",
    version="0.1.0",
    description="Conversational DNA/RNA language models (ChatNT, RNA-GPT, DNAHLM) for Hugging Face",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=["chatnt"] + [f"chatnt.{name}" for name in SUBPACKAGES],
    package_dir={"chatnt": "."} | {f"chatnt.{name}": name.replace(".", "/") for name in SUBPACKAGES},
    package_data={"chatnt.tokenizer": ["*.json", "*.jinja", "*.md"]},
    install_requires=[
        "torch>=2.4",
        "transformers>=5.0,<6",
        "tokenizers>=0.21",
        "peft>=0.17",
        "trl>=1.0",
        "datasets>=3.0",
        "evaluate>=0.4",
        "huggingface-hub>=1.0",
        "accelerate>=1.0",
        "safetensors>=0.4",
        "gguf>=0.10",
        "numpy>=1.26",
        "scikit-learn>=1.4",
        "scipy>=1.11",
        "rouge-score>=0.1.2",
        "matplotlib>=3.8",
        # Sequence logos of attribution maps, and JASPAR motifs for the attribution check.
        "logomaker>=0.8",
        "pyjaspar>=3.0",
        "tqdm",
    ],
    entry_points={"console_scripts": ["chatnt = chatnt.cli:main"]},
    extras_require={
        # The Gradio demo (app.py, the Hugging Face Space).
        "demo": ["gradio>=6,<7"],
        # The test suite, the demo's browser test included: Playwright drives the system's chromium.
        "test": ["pytest>=8", "gradio>=6,<7", "playwright>=1.40"],
    },
)
