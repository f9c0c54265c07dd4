"""The questionnaire page: the same pure engine and the same ``commit_step`` as the chat, rendered
as one section per page for the messengers' in-app browsers (Telegram Mini App, a link in Zalo).

``app`` (routes, headers, limits), ``form`` (a submitted page as engine inputs), ``view`` (what a
page shows), ``tickets`` (signed links and CSRF tokens), ``initdata`` (Telegram's Mini App
signature), ``serve`` (how ``hailong run`` serves it). See docs/page.md.
"""
