//! `kubectl create <generator>`: kubectl 1.32 and 1.33 send these bodies as protobuf, which the
//! sandbox decodes with k8s-pb's generated types into the objects a real server stores.

mod common;

use std::time::Duration;

use common::Env;
use meshbook_sandbox::testing::kubectl_of;

#[tokio::test(flavor = "multi_thread")]
async fn every_create_generator_of_kubectl_1_32_and_1_33() {
    let env = Env::start(&["c1"]).await;
    let cert = rcgen::generate_simple_self_signed(vec!["web.example".to_string()]).unwrap();
    let crt = env.write("tls.crt", &cert.cert.pem());
    let key = env.write("tls.key", &cert.signing_key.serialize_pem());
    let (crt, key) = (crt.to_str().unwrap(), key.to_str().unwrap());
    for minor in [32, 33] {
        let k = kubectl_of(minor);
        let ns = format!("gen-{minor}");
        let run = |args: Vec<String>| {
            let env = &env;
            let k = k.clone();
            async move {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                let out = env
                    .kubectl_bin(&k, "c1", &args, None, Duration::from_secs(60))
                    .await;
                assert_eq!(out.code, 0, "kubectl 1.{minor} {args:?}: {out:?}");
                out.stdout
            }
        };
        let v = |s: &str| -> Vec<String> {
            s.split(' ')
                .map(|x| x.replace("{ns}", &ns).replace("{m}", &minor.to_string()))
                .collect()
        };
        assert_eq!(
            run(v("create namespace {ns}")).await.trim(),
            format!("namespace/{ns} created")
        );
        for cmd in [
            "create secret generic s1 -n {ns} --from-literal=a=b --type=Opaque",
            "create secret docker-registry reg -n {ns} --docker-server=registry.example --docker-username=u --docker-password=p",
            "create configmap cm -n {ns} --from-literal=k=v",
            "create deployment web -n {ns} --image=example.invalid/web:1 --replicas=0 --port=8080",
            "create service clusterip s-cip -n {ns} --tcp=80:http",
            "create service nodeport s-np -n {ns} --tcp=81:8081",
            "create service loadbalancer s-lb -n {ns} --tcp=82:8082",
            "create serviceaccount robot -n {ns}",
            "create job once -n {ns} --image=example.invalid/job:1",
            "create cronjob nightly -n {ns} --image=example.invalid/job:1 --schedule=0_3_*_*_*",
            "create role reader -n {ns} --verb=get,list --resource=pods",
            "create rolebinding read -n {ns} --role=reader --serviceaccount={ns}:robot",
            "create clusterrole creader-{m} --verb=get --resource=nodes",
            "create clusterrolebinding cread-{m} --clusterrole=creader-{m} --user=alice",
            "create quota q -n {ns} --hard=pods=10,requests.cpu=2",
            "create priorityclass high-{m} --value=1000 --description=important",
            "create poddisruptionbudget pdb -n {ns} --selector=app=web --min-available=1",
            "create ingress ing -n {ns} --rule=web.example/api*=s-cip:80",
        ] {
            let args: Vec<String> = v(cmd).into_iter().map(|a| a.replace('_', " ")).collect();
            assert!(run(args).await.contains("created"), "{cmd}");
        }
        let tls: Vec<String> = v("create secret tls web-tls -n {ns}")
            .into_iter()
            .chain(["--cert".into(), crt.into(), "--key".into(), key.into()])
            .collect();
        run(tls).await;
        let token = run(v("create token robot -n {ns} --duration=20m")).await;
        assert_eq!(token.trim().split('.').count(), 3, "{token}");
        let get = |what: &str, path: &str| {
            let mut args = v(&format!("get {what} -n {{ns}}"));
            args.push(format!("-o=jsonpath={path}"));
            run(args)
        };
        // The objects hold what the generators set, under the API's JSON names.
        assert_eq!(get("secret s1", "{.data.a}").await, "Yg==");
        assert_eq!(
            get("secret reg", "{.type}").await,
            "kubernetes.io/dockerconfigjson"
        );
        assert_eq!(get("secret web-tls", "{.type}").await, "kubernetes.io/tls");
        assert_eq!(get("configmap cm", "{.data.k}").await, "v");
        // An explicit zero of a field whose default is not zero survives the decoding.
        assert_eq!(get("deploy web", "{.spec.replicas}").await, "0");
        assert_eq!(
            get(
                "deploy web",
                "{.spec.template.spec.containers[0].ports[0].containerPort}"
            )
            .await,
            "8080"
        );
        assert_eq!(
            get("svc s-cip", "{.spec.ports[0].targetPort}").await,
            "http"
        );
        let node_port = get("svc s-np", "{.spec.ports[0].nodePort}").await;
        assert!(
            node_port.parse::<u16>().is_ok_and(|p| p >= 30000),
            "{node_port}"
        );
        assert_eq!(
            get("cronjob nightly", "{.spec.schedule}").await,
            "0 3 * * *"
        );
        assert_eq!(
            get("role reader", "{.rules[0].verbs}").await,
            r#"["get","list"]"#
        );
        assert_eq!(
            get("rolebinding read", "{.subjects[0].name}").await,
            "robot"
        );
        assert_eq!(get("quota q", "{.spec.hard.requests\\.cpu}").await, "2");
        assert_eq!(get("pdb pdb", "{.spec.minAvailable}").await, "1");
        assert_eq!(
            get("ingress ing", "{.spec.rules[0].host}").await,
            "web.example"
        );
        assert_eq!(
            get("ingress ing", "{.spec.rules[0].http.paths[0].pathType}").await,
            "Prefix"
        );
        let mut pc = v("get priorityclass high-{m}");
        pc.push("-o=jsonpath={.value}".into());
        assert_eq!(run(pc).await, "1000");
        let mut crb = v("get clusterrolebinding cread-{m}");
        crb.push("-o=jsonpath={.subjects[0].name}".into());
        assert_eq!(run(crb).await, "alice");
    }
}
