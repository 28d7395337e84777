FROM scratch
ARG DIR_ASSETS=assets/
COPY $DIR_ASSET /dst
COPY $foo /x
ARG foo=bar
ENV PATH=$PAHT:/tmp/bin
