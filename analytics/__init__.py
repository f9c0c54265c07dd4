"""hailong: analytics package."""
