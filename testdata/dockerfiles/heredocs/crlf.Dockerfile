FROM scratch
RUN <<EOF
line one
EOF
CMD ["x"]
