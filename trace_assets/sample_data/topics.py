"""What the sample users ask: cloud infrastructure documentation questions in Korean and
English, the documents a retriever returned, and answers of each quality."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Topic:
    domain: str
    question_ko: str
    question_en: str
    contexts: tuple[str, ...]
    good_ko: str
    good_en: str
    wrong_ko: str
    wrong_en: str


TOPICS = (
    Topic(
        domain="eks-documentation",
        question_ko="EKS Auto Mode와 Karpenter의 차이점은?",
        question_en="What is the difference between EKS Auto Mode and Karpenter?",
        contexts=(
            "EKS Auto Mode extends AWS management beyond the control plane to the data plane: AWS provisions, "
            "scales, patches and upgrades the EC2 instances of the cluster with Karpenter-based node management "
            "that AWS operates for you.",
            "Karpenter is an open-source node autoscaler that you install and operate in your cluster. It watches "
            "unschedulable pods and launches right-sized EC2 instances described by NodePool and EC2NodeClass "
            "resources.",
            "With Auto Mode, core add-ons such as the VPC CNI, CoreDNS, kube-proxy and the EBS CSI driver run as "
            "AWS-managed components and do not appear as pods in your cluster.",
        ),
        good_ko="EKS Auto Mode는 AWS가 데이터 플레인까지 관리하는 완전 관리형 방식으로, 노드 프로비저닝·스케일링·패치·"
        "업그레이드를 AWS가 운영하는 Karpenter 기반 자동화로 처리하고 VPC CNI, CoreDNS 같은 핵심 애드온도 관리합니다. "
        "Karpenter를 직접 쓰면 클러스터에 설치하고 NodePool과 EC2NodeClass를 직접 구성·운영해야 하므로 제어권은 크지만 "
        "업그레이드와 애드온 관리 부담도 직접 집니다.",
        good_en="EKS Auto Mode is fully managed: AWS runs the node lifecycle (provisioning, scaling, patching, "
        "upgrades) with Karpenter-based automation it operates itself, and it also manages core add-ons such as the "
        "VPC CNI and CoreDNS. With self-managed Karpenter you install and operate the autoscaler and define NodePools "
        "and EC2NodeClasses yourself: more control, but you own upgrades and add-ons.",
        wrong_ko="EKS Auto Mode는 Cluster Autoscaler를 쓰는 관리형 노드 그룹과 같으며, Karpenter는 Fargate에서만 "
        "동작합니다. 둘 다 노드 업그레이드는 사용자가 직접 해야 합니다.",
        wrong_en="EKS Auto Mode is just a managed node group with the Cluster Autoscaler, and Karpenter only works "
        "on Fargate. In both cases you upgrade the nodes yourself.",
    ),
    Topic(
        domain="kserve-documentation",
        question_ko="KServe InferenceService에서 GPU 추론 서버를 큐 길이에 따라 오토스케일링하려면 어떻게 하나요?",
        question_en="How do I autoscale a KServe InferenceService serving an LLM on GPUs by queue length?",
        contexts=(
            "In RawDeployment mode KServe creates a Kubernetes Deployment and can delegate autoscaling to KEDA, "
            "which scales on external metrics such as a Prometheus query.",
            "vLLM exports Prometheus metrics prefixed with vllm:, including vllm:num_requests_running and "
            "vllm:num_requests_waiting, labelled with model_name.",
            "A KEDA ScaledObject with a prometheus trigger sets serverAddress, query and threshold; KEDA adds "
            "replicas when the query result divided by the replica count exceeds the threshold.",
        ),
        good_ko="RawDeployment 모드로 InferenceService를 배포하고 KEDA ScaledObject의 prometheus 트리거로 vLLM의 "
        "vllm:num_requests_waiting(model_name 라벨) 값을 조회해 threshold를 넘으면 레플리카를 늘리도록 설정합니다. "
        "minReplicaCount와 maxReplicaCount로 범위를 정합니다.",
        good_en="Deploy the InferenceService in RawDeployment mode and let KEDA scale it: a ScaledObject with a "
        "prometheus trigger queries vLLM's vllm:num_requests_waiting for your model_name and adds replicas when the "
        "value per replica passes the threshold, between minReplicaCount and maxReplicaCount.",
        wrong_ko="KServe는 GPU 사용률 80%를 기준으로만 스케일링할 수 있으며, 큐 길이 기반 스케일링은 지원하지 않습니다.",
        wrong_en="KServe can only scale on GPU utilisation above 80%; queue-length scaling is not possible, so set "
        "a fixed replica count.",
    ),
    Topic(
        domain="s3-documentation",
        question_ko="Athena에서 빠르게 조회하려면 S3의 Parquet 데이터를 어떻게 파티셔닝해야 하나요?",
        question_en="How should I partition Parquet data in S3 so that Athena queries stay fast?",
        contexts=(
            "Partitioning divides a table by column values such as date, so that queries filtering on those "
            "columns read only the matching S3 prefixes (partition pruning).",
            "Hive-style paths put the column name in the prefix, for example s3://bucket/table/date=2026-04-18/.",
            "Too many small files slow queries down; aim for files of roughly 128 MB or more and avoid "
            "partitioning on high-cardinality columns.",
        ),
        good_ko="자주 필터링하는 저카디널리티 컬럼(예: 날짜)으로 date=YYYY-MM-DD 같은 Hive 스타일 경로를 만들면 Athena가 "
        "파티션 프루닝으로 필요한 prefix만 읽습니다. 작은 파일이 많아지지 않게 파일을 128MB 이상으로 유지하고, "
        "카디널리티가 높은 컬럼으로는 파티셔닝하지 마세요.",
        good_en="Partition on low-cardinality columns you filter by, usually the date, with Hive-style prefixes "
        "such as date=2026-04-18/, so Athena prunes partitions and reads only matching prefixes. Keep files around "
        "128 MB or larger and do not partition on high-cardinality columns like user ids.",
        wrong_ko="user_id처럼 고유값이 많은 컬럼으로 파티셔닝할수록 항상 빨라집니다. 파일은 작을수록 좋습니다.",
        wrong_en="Partition by user_id: the more partitions the faster Athena gets, and many small files are "
        "better than a few large ones.",
    ),
    Topic(
        domain="iam-documentation",
        question_ko="EKS 파드에 AWS 권한을 주려면 IRSA와 EKS Pod Identity 중 무엇을 써야 하나요?",
        question_en="Should I use IRSA or EKS Pod Identity to give pods AWS permissions?",
        contexts=(
            "IAM roles for service accounts (IRSA) use the cluster's OIDC provider: the role's trust policy names "
            "the provider and the service account, and pods receive a web identity token.",
            "EKS Pod Identity uses an agent add-on and pod identity associations managed through the EKS API; the "
            "trust policy trusts the pods.eks.amazonaws.com service principal and can be reused across clusters.",
            "Both give pods temporary credentials through the standard AWS SDK credential chain.",
        ),
        good_ko="둘 다 파드에 임시 자격 증명을 주지만, 새 클러스터라면 EKS Pod Identity가 더 간단합니다. OIDC 공급자 설정 "
        "없이 EKS API로 연결을 관리하고 역할 신뢰 정책을 여러 클러스터에서 재사용할 수 있습니다. IRSA는 OIDC 공급자를 "
        "쓰며 EKS 외 환경이나 기존 구성에서 여전히 유효합니다.",
        good_en="Both hand pods temporary credentials through the SDK chain. For new EKS clusters Pod Identity is "
        "simpler: associations are managed through the EKS API, no OIDC provider is needed, and one trust policy "
        "works across clusters. IRSA relies on the cluster's OIDC provider and remains fine for existing setups.",
        wrong_ko="IRSA를 쓰려면 노드 인스턴스 역할에 모든 권한을 붙여야 하고, Pod Identity는 액세스 키를 파드 환경 변수로 "
        "주입하는 방식입니다.",
        wrong_en="IRSA works by attaching all permissions to the node instance role, and Pod Identity injects "
        "long-lived access keys into the pod's environment.",
    ),
    Topic(
        domain="vllm-documentation",
        question_ko="vLLM의 --gpu-memory-utilization 0.9는 무슨 뜻인가요?",
        question_en="What does --gpu-memory-utilization 0.9 mean in vLLM?",
        contexts=(
            "gpu-memory-utilization is the fraction of GPU memory the vLLM instance may use, from 0 to 1; the "
            "default is 0.9.",
            "After loading the weights, vLLM pre-allocates the remaining budget as KV cache blocks, which bounds "
            "how many sequences can run concurrently.",
            "max-model-len caps the context length; a lower value lets more sequences fit into the KV cache.",
        ),
        good_ko="vLLM 인스턴스가 GPU 메모리의 90%까지 쓰도록 하는 설정입니다. 모델 가중치를 올린 뒤 남은 예산을 KV 캐시로 "
        "미리 할당하므로, 값이 클수록 동시에 처리할 수 있는 시퀀스가 늘어납니다.",
        good_en="It lets the vLLM instance use up to 90% of the GPU's memory. After the weights are loaded, the rest "
        "of that budget is pre-allocated as KV cache, which sets how many sequences can run at once.",
        wrong_ko="GPU 코어 사용률을 90%로 제한하는 설정이며, 메모리 사용량과는 관계가 없습니다.",
        wrong_en="It throttles the GPU's compute cores to 90% utilisation; it has nothing to do with memory.",
    ),
    Topic(
        domain="iceberg-documentation",
        question_ko="Iceberg 테이블에 새 컬럼을 추가하면 기존 데이터 파일을 다시 써야 하나요?",
        question_en="Do I have to rewrite data files when I add a column to an Iceberg table?",
        contexts=(
            "Iceberg schema evolution is a metadata change: add, drop, rename and reorder columns without "
            "rewriting data files.",
            "Columns are tracked by unique field ids, so older data files simply read a newly added column as null.",
            "Hive tables track columns by name or position, so renames and reorders can silently return wrong data.",
        ),
        good_ko="아니요. Iceberg의 스키마 진화는 메타데이터만 바꾸므로 데이터 파일을 다시 쓰지 않습니다. 컬럼을 고유 "
        "field id로 추적하기 때문에 기존 파일에서는 새 컬럼이 null로 읽힙니다.",
        good_en="No. Schema evolution in Iceberg is a metadata-only change; columns are tracked by field id, so "
        "existing data files are not rewritten and read the new column as null.",
        wrong_ko="네, 컬럼을 추가하면 Iceberg가 모든 데이터 파일을 즉시 다시 써서 새 컬럼을 채웁니다.",
        wrong_en="Yes, Iceberg rewrites every data file immediately to fill the new column with default values.",
    ),
    Topic(
        domain="eks-documentation",
        question_ko="EKS에서 파드 IP가 부족할 때 VPC CNI 설정으로 해결할 수 있나요?",
        question_en="My EKS nodes run out of pod IP addresses. Can the VPC CNI help?",
        contexts=(
            "With prefix delegation the VPC CNI assigns /28 IPv4 prefixes to network interfaces instead of "
            "individual addresses, raising the number of pods per node.",
            "Enable it by setting ENABLE_PREFIX_DELEGATION=true on the aws-node daemonset; nodes need to be "
            "Nitro-based instances.",
            "Custom networking lets pods use subnets from a secondary CIDR block, separate from the nodes' subnets.",
        ),
        good_ko="네. aws-node 데몬셋에 ENABLE_PREFIX_DELEGATION=true를 설정하면 개별 IP 대신 /28 프리픽스를 할당해 노드당 "
        "파드 수가 늘어납니다(Nitro 인스턴스 필요). 서브넷 자체가 부족하면 보조 CIDR과 커스텀 네트워킹으로 파드 전용 "
        "서브넷을 쓸 수 있습니다.",
        good_en="Yes. Set ENABLE_PREFIX_DELEGATION=true on the aws-node daemonset so the CNI assigns /28 prefixes "
        "instead of single addresses (Nitro instances only), which raises pods per node. If the subnets themselves "
        "are exhausted, add a secondary CIDR and use custom networking for pod subnets.",
        wrong_ko="VPC CNI는 IP를 늘릴 수 없으므로 노드를 더 큰 인스턴스로 바꾸는 방법밖에 없습니다.",
        wrong_en="The VPC CNI cannot change anything here; the only fix is to move to bigger instance types.",
    ),
    Topic(
        domain="karpenter-documentation",
        question_ko="Karpenter의 consolidation은 어떻게 동작하나요?",
        question_en="How does Karpenter consolidation work?",
        contexts=(
            "Consolidation is a disruption method: Karpenter deletes nodes whose pods fit elsewhere and replaces "
            "nodes with cheaper ones when possible.",
            "The NodePool's disruption block sets consolidationPolicy (WhenEmpty or WhenEmptyOrUnderutilized) and "
            "consolidateAfter.",
            "Disruption budgets limit how many nodes Karpenter may disrupt at once, and pods can opt out with the "
            "karpenter.sh/do-not-disrupt annotation.",
        ),
        good_ko="Karpenter는 파드를 다른 노드로 옮길 수 있으면 노드를 삭제하고, 더 저렴한 노드로 교체할 수 있으면 교체합니다. "
        "NodePool의 disruption 블록에서 consolidationPolicy와 consolidateAfter를 정하고, disruption budget과 "
        "karpenter.sh/do-not-disrupt 어노테이션으로 범위를 제한합니다.",
        good_en="Karpenter removes nodes whose pods fit on other nodes and replaces nodes with cheaper ones when it "
        "can. You configure consolidationPolicy and consolidateAfter in the NodePool's disruption block, and limit it "
        "with disruption budgets and the karpenter.sh/do-not-disrupt annotation.",
        wrong_ko="consolidation은 매일 자정에 모든 노드를 한 번에 재시작하는 기능입니다.",
        wrong_en="Consolidation restarts every node in the cluster at midnight to defragment memory.",
    ),
)

REFUSALS_KO = ("죄송하지만 해당 요청에는 답변드릴 수 없습니다.", "그 질문에는 도움을 드리기 어렵습니다.")
REFUSALS_EN = ("I'm sorry, but I can't help with that request.", "I cannot answer this question.")
