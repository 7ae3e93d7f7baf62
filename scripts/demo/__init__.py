"""The laptop demo: Ollama on the host (reused or started), the demo's models, the Streamlit page.

Public face: ``register`` (the CLI verbs) and the stack's functions below; ``offline_models`` and
``ollama_server`` are used by the tests and benchmarks as they are.
"""

from scripts.demo.command import register
from scripts.demo.stack import STREAMLIT, down, run, start_streamlit, status

__all__ = ["STREAMLIT", "down", "register", "run", "start_streamlit", "status"]
