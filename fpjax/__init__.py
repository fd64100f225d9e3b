"""fpjax."""
