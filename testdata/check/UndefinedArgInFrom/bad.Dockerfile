ARG tag=latest
ARG base_image=busybox
FROM ${base_imag:-busybox}:${tag}${version}
