"""ChatNT for Hugging Face: conversational DNA/RNA language models.

Importing this package registers the ChatNT classes with the transformers Auto classes, so a saved
ChatNT directory loads with ``AutoModelForCausalLM.from_pretrained(path)`` without
``trust_remote_code``.
"""
