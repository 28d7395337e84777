FROM scratch
ENV greeting hello
LABEL version 1.0
