# telbo on polymnist
# paper: Vedantam, Fischer, Huang & Murphy 2018, Generative Models of Visually Grounded Imagination (TELBO, ICLR 2018)
# reproduces: MultiVae's TELBO (multivae.models.TELBO) with its default configuration, on PolyMNIST
# setting: PolyMNIST (5 modalities), the shared PolyMNIST setting: latent 512, Laplace(0.75), conv nets, Adam 5e-4, batch 256, 300 epochs
# note: MultiVae's defaults: warm-up of 10 epochs (stage joint: the joint ELBO), then the unimodal ELBOs with the joint encoder and the decoders frozen; reconstruction weights lambda = gamma = MultiVae's rescale factors (1 here: the modalities have one size)
# note: joint encoder: each modality's encoder body, concatenated, two layers of 512 units, Gaussian heads (MultiVae: copies of the unimodal encoders, two layers of 512)
# note: MultiVae's unimodal KL reads the joint encoder's log-variance where the unimodal one belongs (-0.5 sum(1 + logvar_joint - mu_m^2 - var_m)); the spec uses KL(q_m || p) (tests/test_multivae_jnf_telbo.py measures the difference)
# note: MultiVae resets the optimizer at the start of epoch 10, one epoch before its second phase; each stage here starts a fresh optimizer
# note: 2 to 4 given modalities: the product of the unimodal experts with the prior, as in the paper (MultiVae refuses those subsets)

model telbo_polymnist
data polymnist

param dim = 512
latent z: dim
prior p = normal()

modality m0: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_conv
modality m1: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_conv
modality m2: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_conv
modality m3: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_conv
modality m4: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_conv

posterior qj = encoder(*, hidden=[512, 512])
posterior q[m] = encoder(m)

maximize joint: rec(qj -> *) - kl(qj || p)
maximize unimodal: sum m: (rec(q[m] -> m) - kl(q[m] || p))

train batch 256, optimizer adam(lr=5e-4)

stage joint {
    objective joint
    train qj, decoders
    epochs 10
}
stage unimodal {
    objective unimodal
    train q[*]
    freeze qj, decoders
    epochs 290
}

infer * = qj
infer (m0) = q[m0]
infer (m1) = q[m1]
infer (m2) = q[m2]
infer (m3) = q[m3]
infer (m4) = q[m4]
infer S = poe(p, q[S])

evaluate coherence, latent_probe(samples=10000), fid, elbo, nll(k=12)
