FROM scratch
LABEL org.opencontainers.image.authors="me@example.org"
