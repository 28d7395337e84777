ARG REGISTRY=docker.io
ARG IMAGE=${REGISTRY}/library/busybox
FROM $IMAGE:${TAG:-latest}
# not visible here until redeclared
LABEL image="$IMAGE" tag="${TAG:-none}"
ARG IMAGE
ARG USER=app
ARG UID
ENV HOME=/home/$USER \
    PATH=/home/$USER/bin:$PATH
ENV A=1 B=$A
ARG TARGETARCH
WORKDIR $HOME/${TARGETARCH}
RUN echo "$USER $UID $HOME"
EXPOSE ${PORT:-80} 443/udp
VOLUME ["/data/$USER"]
STOPSIGNAL SIG${SIGNAL:-TERM}
