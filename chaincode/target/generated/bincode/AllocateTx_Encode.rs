impl :: bincode :: Encode for AllocateTx
{
    fn encode < __E : :: bincode :: enc :: Encoder >
    (& self, encoder : & mut __E) ->core :: result :: Result < (), :: bincode
    :: error :: EncodeError >
    {
        :: bincode :: Encode :: encode(&self.pool, encoder) ?; :: bincode ::
        Encode :: encode(&self.member, encoder) ?; :: bincode :: Encode ::
        encode(&self.claim, encoder) ?; core :: result :: Result :: Ok(())
    }
}