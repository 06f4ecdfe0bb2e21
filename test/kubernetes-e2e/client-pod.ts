/** A pod that only runs curl from the test image, for `meshctl inject` and exec: the meshed caller of a test. */
export const CLIENT_POD = `apiVersion: v1
kind: Pod
metadata:
  name: client
  labels:
    app: client
spec:
  containers:
  - name: client
    image: meshctl-test/shell
    command: ["sleep", "3600"]
`;
