# mmvae_dreg on mst
# paper: Shi et al. 2019, Variational Mixture-of-Experts Autoencoders (MMVAE), the paper's objective: DReG importance-weighted bound, K = 30
# reproduces: Shi et al. 2019, the MNIST-SVHN table of latent digit accuracy, cross- and joint coherence (its MMVAE row), here on MNIST-SVHN-Text beside seed 001 Table 1
# setting: the authors' MNIST-SVHN run (README: --obj dreg --looser --K 30 --learn-prior --latent-dim 20 --batch-size 128 --epochs 30; Adam lr 1e-3): Laplace posteriors with scale D·softmax + 1e-6, Laplace(0, D·softmax(λ)) prior with learned λ, Laplace(0.75) image likelihoods, categorical text
# note: the loss is -(1/M) sum_m log 1/K sum_k p(z, X)/q(z|X) with z ~ q[m] and q the uniform mixture (the code's m_dreg_looser); DReG squares the normalised weights in the encoder's gradient
# note: likelihood scaling: the code scales MNIST by 3·32·32/(28·28) so that modalities weigh alike; `weight rescale` does the same for MNIST and extends it to the text modality, which the paper does not have
# note: differences from the authors' code: the MoPoE authors' MNIST-SVHN-Text networks (mst_*) instead of MMVAE's MLP/conv nets, and plain Adam (the code sets amsgrad=True, which the spec's optimizer settings do not offer)

model mmvae_dreg_mst
data mst

param dim = 20
latent z: dim
prior p = laplace(scale=learned)

modality mnist: image(1, 28, 28) ~ laplace(scale=0.75), net mst_mnist, weight rescale
modality svhn:  image(3, 32, 32) ~ laplace(scale=0.75), net mst_svhn,  weight rescale
modality text:  text(8, 71)      ~ categorical,         net mst_text,  weight rescale

posterior q[m] = encoder(m, family=laplace)
posterior mix = moe(q[*])

param k = 30

maximize iwae(mix -> *, k=k, estimator=dreg, form=looser)

infer S = moe(q[S])

train epochs 30, batch 128, optimizer adam(lr=1e-3)
evaluate coherence, latent_probe(samples=10000), levenshtein, fid, elbo, nll(k=12)
