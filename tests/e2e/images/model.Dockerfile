# The scripted OpenAI-compatible model of the tests (tests/src/bin/scripted-model.rs), as a pod:
# the end-to-end suite runs it in the cluster and points Agents at its Service.
FROM scratch
COPY scripted-model /scripted-model
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/scripted-model"]
