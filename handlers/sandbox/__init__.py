"""``govbot sandbox``: the whole assistant in a browser, with no token and no internet.

The real bot (the same Application and code paths as production) runs against the built-in
Bot API emulator; the emulator's web page plays Telegram's app for several demo staff side by
side. ``people`` is the fictional city government, ``seed`` puts it (and each capability's demo
content) into a fresh sandbox, ``page`` is what the page is told, ``run`` starts and stops it
all, and ``console`` lets a terminal drive the same phones.
"""
