FROM scratch
FROM scratch AS ctx
