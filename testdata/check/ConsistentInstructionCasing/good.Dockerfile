from scratch
copy a /a
copy b /b
