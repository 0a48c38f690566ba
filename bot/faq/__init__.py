"""The training knowledge base (#6): content and its checks, files, and the services that
answer staff and let trainers keep the content current. Retrieval itself is ``knowledge/``."""
