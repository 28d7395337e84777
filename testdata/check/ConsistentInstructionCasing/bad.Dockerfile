FROM scratch
copy a /a
COPY b /b
