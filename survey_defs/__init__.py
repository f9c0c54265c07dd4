"""hailong: survey_defs package."""
