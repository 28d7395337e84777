FROM busybox
ARG TOKEN
RUN true
COPY ${TOKEN:?required} /token
