"""The staff web console: server-rendered pages (aiohttp + Jinja2 + htmx, no CDN) over the same
storage, sampling, fieldwork and analytics functions as the command line (docs/console.md)."""
