# mmvm on MIMIC-CXR-JPG: frontal and lateral chest X-rays as two modalities (own data, layout mimic_cxr)
# paper: seed 004: MMVM VAE, a data-dependent mixture-of-posteriors prior per modality (Sutter et al. 2024)
# reproduces: seed 004 section 5.3 (Table 1; Appendix B.7.3, Tables 2 and 3: AUROC of the 14 CheXpert labels from z_F and from z_L)
# setting: frontal (PA/AP) and lateral (LATERAL/LL) views, every frontal paired with every lateral of a study, centre-cropped and resized to 224x224; CheXpert labels positive against the rest (negative, uncertain, blank); 80/10/10 split by subject; ResNet encoders and decoders; Adam 5e-5, batch 32, 240 epochs (Appendix B.7)
# data: MIMIC-CXR-JPG 2.0.0 or 2.1.0 from PhysioNet (credentialed access, not redistributable; no stand-in) in its official layout, in a folder "mimic-cxr-jpg" next to this spec or under --data-root (docs/data.md, "MIMIC-CXR-JPG")
# note: the paper scores each label with a random forest (5,000 trees, depth 30) on the unimodal latents; attribute_probe fits one logistic regression per label and reports its AUROC and the mean (per input subset; frontal and lateral are the paper's z_F and z_L)
# note: latent size 512 (MMVM's setting on PolyMNIST), beta 1, grey images, Laplace(0.75) likelihood and the ResNet widths are this spec's choices: the paper does not give them for MIMIC-CXR; sweep beta with --set beta=...
# note: studies without both a frontal and a lateral view are left out, as in the paper (`skip unpaired`; the banner says how many)

model mmvm_mimic
data mimic {
    files "mimic-cxr-jpg"
    layout mimic_cxr skip unpaired
    split train 0.8, validation 0.1, test 0.1 seed 0
}

param dim = 512
latent z[m]: dim

modality frontal: image(1, 224, 224) ~ laplace(scale=0.75), net resnet(channels=[32, 64, 128, 256, 256, 256])
modality lateral: image(1, 224, 224) ~ laplace(scale=0.75), net resnet(channels=[32, 64, 128, 256, 256, 256])

posterior q[m] = encoder(m)
prior h[m] = moe(q[*]) on z[m]

param beta = 1

maximize sum m: rec(q[m] -> m) - beta * sum m: kl(q[m] || h[m], estimator=jensen)

infer S = moe(q[S])

train epochs 240, batch 32, optimizer adam(lr=5e-5)
evaluate attribute_probe, elbo
