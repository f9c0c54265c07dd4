"""hailong: bot package."""
