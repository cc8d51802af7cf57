// agentarea-cp is Kubernetes v1.34 in one busybox-style binary, built from the released Go modules.
//
// The tests and the README's run command use it as a local control plane on machines without a
// container engine: a real etcd, kube-apiserver and kube-controller-manager (garbage collector,
// Deployment and ReplicaSet controllers), plus kubectl. It works the way controller-runtime's
// envtest does, with one difference: the controller-manager runs too, so owner-reference cascades
// are real.
//
// The same binary is every Kubernetes program of the kind node image that kind/node/build.sh makes
// where no registry can be reached (kubelet, kubeadm, kube-proxy, kube-scheduler and the real etcd
// command), so the machine compiles Kubernetes once for both. One link instead of eight also saves
// minutes on two cores, the way hyperkube once did.
//
// The component is chosen by the name it is called by (a symlink named kubectl runs kubectl) or by
// its first argument:
//
//	agentarea-cp up --dir DIR            start the local control plane, write DIR/kubeconfig, run until SIGTERM
//	agentarea-cp local-etcd --dir DIR    the local control plane's embedded etcd (used by up)
//	agentarea-cp kube-apiserver|kube-controller-manager|kube-scheduler|kube-proxy|kubelet|kubeadm|kubectl|etcd ...
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	_ "time/tzdata" // CronJob-style time zones must resolve without the host's zoneinfo.

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"          // --logging-format=json, as the upstream mains
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client-go metrics, as the upstream mains
	_ "k8s.io/component-base/metrics/prometheus/version"  // the version metric, as the upstream mains
	kubectl "k8s.io/kubectl/pkg/cmd"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	proxy "k8s.io/kubernetes/cmd/kube-proxy/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
	kubeadm "k8s.io/kubernetes/cmd/kubeadm/app"
	kubeadmerrors "k8s.io/kubernetes/cmd/kubeadm/app/util/errors"
	kubelet "k8s.io/kubernetes/cmd/kubelet/app"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	name := filepath.Base(os.Args[0])
	args := os.Args[1:]
	if name == "agentarea-cp" || name == "main" {
		if len(args) == 0 {
			usage()
			os.Exit(2)
		}
		name, args = args[0], args[1:]
	}
	// The component commands parse os.Args themselves (cobra), so present them with their own view.
	os.Args = append([]string{name}, args...)

	switch name {
	case "up":
		os.Exit(runUp(args))
	case "local-etcd":
		os.Exit(runLocalEtcd(args))
	case "etcd":
		// The real etcd command line, as kubeadm's static pod runs it.
		etcdmain.Main(os.Args)
	case "kube-apiserver":
		os.Exit(cli.Run(apiserver.NewAPIServerCommand()))
	case "kube-controller-manager":
		os.Exit(cli.Run(controllermanager.NewControllerManagerCommand()))
	case "kube-scheduler":
		os.Exit(cli.Run(scheduler.NewSchedulerCommand()))
	case "kube-proxy":
		os.Exit(cli.Run(proxy.NewProxyCommand()))
	case "kubelet":
		os.Exit(cli.Run(kubelet.NewKubeletCommand(context.Background())))
	case "kubeadm":
		kubeadmerrors.HandleError(kubeadm.Run())
	case "kubectl":
		cmd := kubectl.NewDefaultKubectlCommand()
		os.Exit(cli.Run(cmd))
	case "version":
		fmt.Println(kubernetesVersion())
	default:
		usage()
		os.Exit(2)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: agentarea-cp up|local-etcd|etcd|kube-apiserver|kube-controller-manager|kube-scheduler|kube-proxy|kubelet|kubeadm|kubectl|version [flags]")
}
