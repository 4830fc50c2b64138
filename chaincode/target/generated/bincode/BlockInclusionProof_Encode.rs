impl :: bincode :: Encode for BlockInclusionProof
{
    fn encode < __E : :: bincode :: enc :: Encoder >
    (& self, encoder : & mut __E) ->core :: result :: Result < (), :: bincode
    :: error :: EncodeError >
    {
        :: bincode :: Encode :: encode(&self.index, encoder) ?; :: bincode ::
        Encode :: encode(&self.count, encoder) ?; :: bincode :: Encode ::
        encode(&self.path, encoder) ?; core :: result :: Result :: Ok(())
    }
}