"""Private implementation layer of fpjax; the public API re-exports from here."""
