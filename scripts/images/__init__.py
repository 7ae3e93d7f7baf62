"""Container images of the stack: offline Debian bases, the app and Ollama images, and their digests."""
