"""hailong: storage package."""
