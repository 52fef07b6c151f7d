"""The local playground: a web page for people without a chat workspace."""
