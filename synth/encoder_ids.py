"""Text-encoder identities, importable without torch (command-line parsers and config read them).

An SAE records the identity of the encoder it was trained on; the engine compares it with the
backend's (see synth/engine.py `check_sae_encoder`).
"""
DEFAULT_T5 = "google-t5/t5-base"
MINILM_ID = "sentence-transformers/all-MiniLM-L6-v2"
TINY_ID = "tiny-t5"
T5GEMMA_ID = "google/t5gemma-b-b-ul2"
TINY_T5GEMMA_ID = "tiny-t5gemma"
KINDS = ("t5", "t5gemma", "minilm", "tiny", "tiny-t5gemma")
# The identity each kind records when no --model-id is given.
DEFAULT_NAMES = {"t5": DEFAULT_T5, "t5gemma": T5GEMMA_ID, "minilm": MINILM_ID, "tiny": TINY_ID,
                 "tiny-t5gemma": TINY_T5GEMMA_ID}
