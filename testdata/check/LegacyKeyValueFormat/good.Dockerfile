FROM scratch
ENV greeting=hello other="two words"
LABEL version=1.0
