FROM scratch AS b1
FROM scratch AS b2
