"""hailong: sampling package."""
