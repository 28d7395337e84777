FROM scratch AS base
ARG foo
COPY Dockerfile${foo} /
ARG dir=/src
FROM base
COPY $dir /
RUN echo $NOT_CHECKED_IN_SHELL
ENV PATH=/x:$PATH
