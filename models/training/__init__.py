"""Training SplitOculo networks by distillation from Qwen2.5-VL's vision tower (the seed's recipe,
seed-facts.md "Training recipe"), plus training through the deployed uint8 quantisation.

images     image files, the seed's 224x224 crop, seeded augmentation
pixels     the student's input tensor and the teacher's pixel patches from one crop
teacher    Qwen2.5-VL features after L blocks (the seed's extraction rule) and the whole tower
precompute teacher features for an image folder, sharded and resumable
dataset    reading the shards back
quant      the edge's per-tensor uint8 quantisation, exact, straight-through or as uniform noise
losses     the warmup and GAN losses
discriminator  the seed's FeatureDiscriminator
checkpoints    training checkpoints in the seed's layout, and the split into edge/cloud files
loop       the training loop (warmup and GAN phases), validation, best/latest, resume
"""
